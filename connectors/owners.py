"""Who answers for a resource or a non-human account: owners, by hand, by mapping file, by rule, by fallback.

Precedence, strongest first (``owner_rule`` records which one gave the owner):

    manual         set by hand (``people owner set`` / ``set-account``); never changed automatically
    mapping        resources only: the last line of the ownership file whose glob matches the path
    admin_team     GitHub repository: a maintainer of a team holding admin on it, else an admin direct collaborator
    group_owner    GitLab group or project: an Owner member of it, else of the nearest ancestor that has one
    project_admin  Harbor project: a projectAdmin member
    creator        non-human account: the person whose account created it (Harbor robot creator, Docker Hub
                   token created_by, Artifactory token creator/subject), by login in the same connector or email
    fallback       the connector's fallback owner
    (none)         owner NULL: an unowned non-human account is a risk signal (connectors.risk)

Rules only name people whose accounts are linked (connectors.correlation); among several candidates an active
person wins over a leaver, then the lowest email, so the choice is stable across runs.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction

from reviews.audit import record

from . import risk
from .choices import AccountType, GrantKind, IdentityStatus, Level, OwnerRule, ResourceType
from .correlation import bulk_set
from .models import Account, Connector, Grant, Identity, OwnershipRule, Resource

log = logging.getLogger(__name__)

NON_HUMAN_TYPES = (
    AccountType.BOT,
    AccountType.ROBOT,
    AccountType.DEPLOY_KEY,
    AccountType.ACCESS_TOKEN,
    AccountType.APP_INSTALLATION,
    AccountType.SERVICE_ACCOUNT,
)
CREATOR_ATTRIBUTES = ("creator", "created_by", "subject_user")
BATCH = 1000


class OwnershipError(ValueError):
    """An owner or mapping that cannot be set (the message says why; for files, one line per problem)."""

    def __init__(self, errors: list[str] | str):
        self.errors = [errors] if isinstance(errors, str) else errors
        super().__init__("\n".join(self.errors))


# --- patterns -------------------------------------------------------------------


def compile_glob(pattern: str) -> re.Pattern:
    """CODEOWNERS-style: ``*`` and ``?`` stay within one path segment, ``**`` crosses segments."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass
class MappingLine:
    line: int
    connector: Connector
    pattern: str
    identity: Identity


def parse_mapping(text: str) -> list[MappingLine]:
    """Lines ``CONNECTOR:PATH_GLOB email``; # starts a comment. Raises OwnershipError listing every bad line."""
    connectors = {c.name: c for c in Connector.objects.all()}
    people = {i.email: i for i in Identity.objects.all()}
    errors: list[str] = []
    lines: list[MappingLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        content = raw.split("#", 1)[0].strip()
        if not content:
            continue
        parts = content.split()
        if len(parts) != 2 or ":" not in parts[0]:
            errors.append(f"line {number}: expected 'CONNECTOR:PATH_GLOB email', got {content[:200]!r}")
            continue
        name, pattern = parts[0].split(":", 1)
        email = parts[1].lower()
        if name not in connectors:
            errors.append(f"line {number}: no connector {name!r}")
        if not pattern:
            errors.append(f"line {number}: empty path pattern")
        if email not in people:
            errors.append(f"line {number}: no person {email!r} (import the roster first)")
        if name in connectors and pattern and email in people:
            lines.append(MappingLine(number, connectors[name], pattern, people[email]))
    if errors:
        raise OwnershipError(errors)
    return lines


def load_mapping(text: str, *, actor, actor_label: str | None = None) -> int:
    """Replace the ownership mapping with the file's lines, then re-assign every connector's owners."""
    lines = parse_mapping(text)
    with transaction.atomic():
        before = OwnershipRule.objects.count()
        OwnershipRule.objects.all().delete()
        OwnershipRule.objects.bulk_create(
            OwnershipRule(connector=m.connector, pattern=m.pattern, identity=m.identity, position=m.line) for m in lines
        )
        record("owners.mapping_load", actor=actor, actor_label=actor_label, rules=len(lines), replaced=before)
        for connector in Connector.objects.all():
            _assign(connector)
    return len(lines)


# --- assignment -------------------------------------------------------------------


def assign(connector: Connector) -> dict:
    """Give every present resource and non-human account of ``connector`` its owner; returns counts."""
    with transaction.atomic():
        return _assign(connector)


def _assign(connector: Connector) -> dict:
    people = {pk: (status != IdentityStatus.ACTIVE, email) for pk, status, email in Identity.objects.values_list(
        "pk", "status", "email"
    )}  # fmt: skip
    email_index = {email: pk for pk, (_, email) in people.items()}
    linked = dict(Account.objects.filter(connector=connector, identity__isnull=False).values_list("pk", "identity_id"))
    by_login = dict(
        Account.objects.filter(
            connector=connector, identity__isnull=False, type__in=(AccountType.HUMAN, AccountType.USER_OR_GROUP)
        ).values_list("login", "identity_id")
    )
    by_login = {login.lower(): identity_id for login, identity_id in by_login.items()}

    def best(account_ids) -> int | None:
        ids = {linked[a] for a in account_ids if a in linked}
        return min(ids, key=lambda pk: people[pk]) if ids else None

    fallback = connector.fallback_owner_id
    counts = {"resources": 0, "accounts": 0, "changed": 0, "unowned_accounts": 0}

    resources = list(
        Resource.objects.filter(connector=connector, present=True).values(
            "pk", "path", "type", "parent_id", "owner_id", "owner_rule"
        )
    )
    mapping = [
        (compile_glob(rule.pattern), rule.identity_id)
        for rule in OwnershipRule.objects.filter(connector=connector).order_by("-position", "-pk")
    ]
    automatic = _automatic_resource_owners(connector, resources, best)
    changed_resources = []
    for row in resources:
        counts["resources"] += 1
        if row["owner_rule"] == OwnerRule.MANUAL:
            continue
        owner, rule = None, ""
        for regex, identity_id in mapping:
            if regex.match(row["path"]):
                owner, rule = identity_id, OwnerRule.MAPPING
                break
        if owner is None and row["pk"] in automatic:
            owner, rule = automatic[row["pk"]]
        if owner is None and fallback is not None:
            owner, rule = fallback, OwnerRule.FALLBACK
        if (owner, rule) != (row["owner_id"], row["owner_rule"]):
            changed_resources.append(Resource(pk=row["pk"], owner_id=owner, owner_rule=rule))

    accounts = list(
        Account.objects.filter(connector=connector, present=True, type__in=NON_HUMAN_TYPES).values(
            "pk", "owner_id", "owner_rule", *(f"attributes__{name}" for name in CREATOR_ATTRIBUTES)
        )
    )
    changed_accounts = []
    for row in accounts:
        counts["accounts"] += 1
        if row["owner_rule"] == OwnerRule.MANUAL:
            continue
        owner, rule = None, ""
        for name in CREATOR_ATTRIBUTES:
            creator = str(row[f"attributes__{name}"] or "").strip()
            found = email_index.get(creator.lower()) if "@" in creator else by_login.get(creator.lower())
            if found is not None:
                owner, rule = found, OwnerRule.CREATOR
                break
        if owner is None and fallback is not None:
            owner, rule = fallback, OwnerRule.FALLBACK
        if owner is None:
            counts["unowned_accounts"] += 1
        if (owner, rule) != (row["owner_id"], row["owner_rule"]):
            changed_accounts.append(Account(pk=row["pk"], owner_id=owner, owner_rule=rule))

    bulk_set(Resource, changed_resources, ["owner", "owner_rule"])
    bulk_set(Account, changed_accounts, ["owner", "owner_rule"])
    counts["changed"] = len(changed_resources) + len(changed_accounts)
    if counts["changed"]:
        record("owners.assign", obj=connector, **counts)
    return counts


def _current(connector: Connector):
    return Grant.objects.filter(connector=connector, removed_run__isnull=True).exclude(
        entitlement__kind=GrantKind.INVITATION
    )


def _automatic_resource_owners(connector: Connector, resources: list[dict], best) -> dict[int, tuple[int, str]]:
    """resource id -> (identity id, rule) from the upstream's own notion of who administers it."""
    found: dict[int, tuple[int, str]] = {}
    human = _current(connector).filter(account__type=AccountType.HUMAN)
    if connector.kind == "github":
        maintainers: dict[int, set[int]] = defaultdict(set)
        for team_id, account_id in human.filter(
            resource__type=ResourceType.TEAM, entitlement__kind=GrantKind.MEMBERSHIP, entitlement__name="maintainer"
        ).values_list("resource_id", "account_id"):
            maintainers[team_id].add(account_id)
        admin_teams: dict[int, set[int]] = defaultdict(set)
        for repo_id, team_id in (
            _current(connector)
            .filter(group__type=ResourceType.TEAM, resource__type=ResourceType.REPOSITORY)
            .filter(entitlement__level__gte=Level.ADMIN)
            .values_list("resource_id", "group_id")
        ):
            admin_teams[repo_id].add(team_id)
        direct_admins: dict[int, set[int]] = defaultdict(set)
        for repo_id, account_id in human.filter(
            resource__type=ResourceType.REPOSITORY, via="direct", entitlement__level__gte=Level.ADMIN
        ).values_list("resource_id", "account_id"):
            direct_admins[repo_id].add(account_id)
        for row in resources:
            if row["type"] != ResourceType.REPOSITORY:
                continue
            owner = best(a for team in admin_teams.get(row["pk"], ()) for a in maintainers.get(team, ()))
            owner = owner or best(direct_admins.get(row["pk"], ()))
            if owner is not None:
                found[row["pk"]] = (owner, OwnerRule.ADMIN_TEAM)
    elif connector.kind == "gitlab":
        owners: dict[int, set[int]] = defaultdict(set)
        for resource_id, account_id in human.filter(
            resource__type__in=(ResourceType.GROUP, ResourceType.PROJECT), entitlement__level=Level.OWNER
        ).values_list("resource_id", "account_id"):
            owners[resource_id].add(account_id)
        direct = {pk: best(accounts) for pk, accounts in owners.items()}
        parents = {row["pk"]: row["parent_id"] for row in resources}
        for row in resources:
            if row["type"] not in (ResourceType.GROUP, ResourceType.PROJECT):
                continue
            node, hops = row["pk"], 0
            while node is not None and hops <= len(parents):
                if direct.get(node) is not None:
                    found[row["pk"]] = (direct[node], OwnerRule.GROUP_OWNER)
                    break
                node, hops = parents.get(node), hops + 1
    elif connector.kind == "harbor":
        admins: dict[int, set[int]] = defaultdict(set)
        for project_id, account_id in human.filter(
            resource__type=ResourceType.PROJECT, entitlement__name="projectAdmin"
        ).values_list("resource_id", "account_id"):
            admins[project_id].add(account_id)
        for project_id, accounts in admins.items():
            owner = best(accounts)
            if owner is not None:
                found[project_id] = (owner, OwnerRule.PROJECT_ADMIN)
    return found


# --- by hand ---------------------------------------------------------------------


def set_owner(
    obj: Resource | Account, identity: Identity | None, *, actor, reason: str, actor_label: str | None = None
) -> Resource | Account:
    """Set the owner of a resource or non-human account by hand; ``identity=None`` hands it back to the rules."""
    reason = (reason or "").strip()
    if not reason:
        raise OwnershipError("a reason is required")
    model = type(obj)
    if model is Account and obj.type not in NON_HUMAN_TYPES:
        raise OwnershipError(f"{obj.login} is a {obj.type} account: people are linked, not owned (people link)")
    with transaction.atomic():
        current = model.objects.select_for_update(of=("self",)).select_related("connector", "owner").get(pk=obj.pk)
        before = current.owner.email if current.owner else None
        if identity is None:
            model.objects.filter(pk=obj.pk).update(owner=None, owner_rule="")
        else:
            model.objects.filter(pk=obj.pk).update(owner=identity, owner_rule=OwnerRule.MANUAL)
        label = current.path if model is Resource else current.login
        record(
            "owner.set" if identity is not None else "owner.release",
            actor=actor,
            actor_label=actor_label,
            obj=current,
            target=f"{current.connector.name}:{label}",
            owner=identity.email if identity is not None else None,
            previous=before,
            reason=reason,
        )
        if identity is None:
            _assign(current.connector)
    # An owner (or its absence) is a risk signal of the account's grants.
    risk.refresh(current.connector)
    obj.refresh_from_db()
    return obj


def set_fallback(connector: Connector, identity: Identity | None, *, actor, actor_label: str | None = None) -> dict:
    """Set (None: clear) the connector's fallback owner and re-assign its owners."""
    with transaction.atomic():
        before = connector.fallback_owner.email if connector.fallback_owner_id else None
        Connector.objects.filter(pk=connector.pk).update(fallback_owner=identity)
        connector.refresh_from_db()
        record(
            "connector.fallback_owner",
            actor=actor,
            actor_label=actor_label,
            obj=connector,
            owner=identity.email if identity else None,
            previous=before,
        )
        counts = _assign(connector)
    risk.refresh(connector)
    return counts


def after_sync(run) -> None:
    """Called after each applied sync (settings.SYNC_APPLIED_HOOKS), after correlation: assign owners."""
    counts = assign(run.connector)
    log.info("owners of %s: %s", run.connector.name, counts)
