"""Quay (quay.io and Red Hat Quay): who can reach one or more organizations, and how.

Reads the Quay API v1 (API reference, cited below by chapter as ``{REF}/CHAPTER``:
https://docs.redhat.com/en/documentation/red_hat_quay/3/html/red_hat_quay_api_reference/index;
API guide: https://docs.redhat.com/en/documentation/red_hat_quay/3/html/red_hat_quay_api_guide/index)
with an OAuth application token (Bearer) of an organization administrator, and records each grant where
Quay makes it:

- organization: each member (anyone in a team) and each robot, as a membership; each team's
  organization-wide role, held by the team (admin -> ``org_admin``, owner of the org and admin of every
  repository; creator -> write on the org, may create repositories);
- teams: memberships (users and robots) and pending invitations (``includePending=true``);
- repositories: direct user and robot permissions, team permissions, and anonymous read on public ones;
- default permissions (prototypes): not grants on existing repositories but what every new repository
  will grant, recorded on the organization with via ``default_permission`` (or
  ``default_permission:USER`` for repositories USER creates) and ``applies_to_self=False``, so they show in
  ``--as-granted`` exports and diffs and never as effective access (README-quay).

Endpoints: ``GET /organization/{org}`` (teams with role, counts), ``…/members`` and ``…/collaborators``
(repositories named without roles), ``…/robots?permissions=true&token=false`` (token=false always: the list
returns every robot's secret by default), ``…/team/{t}/members``, ``…/team/{t}/permissions``,
``/repository?namespace=`` (100 per page, opaque ``next_page`` in the body), ``/repository/{org}/{repo}/
permissions/user/`` and ``…/prototypes`` (quay/quay ``endpoints/api/*.py``). Robot details
(``…/robots/{short}``) and OAuth applications are never read: both return secrets to administrators.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from ..base import (
    AccountRecord,
    BaseConnector,
    ConnectorError,
    GrantRecord,
    GrantTarget,
    OptionSpec,
    PermissionProblem,
    Record,
    ResourceRecord,
    RevocationResult,
)
from ..choices import AccountType, GrantKind, Level, ResourceType
from ..http import HttpError
from . import quay_revoke
from .quay_accounts import Accounts
from .quay_roles import (
    DEFAULT_PERMISSION,
    org_id,
    repo_id,
    repo_level,
    repo_path,
    segment,
    team_id,
    team_level,
    team_via,
    user_id,
)

logger = logging.getLogger(__name__)

API_PATH = "/api/v1"


class QuayConnector(BaseConnector):
    kind = "quay"
    label = "Quay (quay.io and self-hosted)"
    default_base_url = "https://quay.io"
    option_specs = {"org": OptionSpec(required=True, repeatable=True, help="organization to inventory (repeatable)")}
    secret_names = ("token",)
    # "kind:via" patterns (fnmatch) of the grants revoke() handles; cannot_revoke() says why for the rest.
    revocable = frozenset(
        {
            "membership:direct",  # org member, robot of the org, team member
            "invitation:invitation",  # pending team invitation
            "permission:direct",  # user or robot on a repository (not anonymous)
            "permission:team:*",  # team on a repository; a creator team's org role
            "permission:org_admin",  # an admin team's org role
            f"permission:{DEFAULT_PERMISSION}*",  # default permission (prototype)
        }
    )

    @classmethod
    def api_url(cls, base_url: str) -> str:
        url = base_url.rstrip("/")
        return url if url.endswith(API_PATH) else url + API_PATH

    @property
    def orgs(self) -> list[str]:
        value = self.config.options["org"]
        names = [value] if isinstance(value, str) else list(value)
        return list(dict.fromkeys(name.strip() for name in names if name.strip()))

    def auth_headers(self) -> dict[str, str]:
        # OAuth access tokens: API guide (module docstring), "Creating an OAuth access token"
        return {"Authorization": f"Bearer {self.config.secret('token')}", "Accept": "application/json"}

    # --- test ---------------------------------------------------------------

    def test(self) -> str:
        lines = []
        for org in self.orgs:
            data = self._get_org(org)
            if not data.get("is_admin"):
                lines.append(
                    f"organization {org}: the token's user is not an administrator (members, robots and "
                    "default permissions need one)"
                )
                continue
            # The cheapest call that needs the org:admin scope; token=false keeps robot secrets out.
            self._get(f"/organization/{segment(org)}/robots", {"token": "false", "limit": "1"})
            lines.append(f"organization {org}: administrator token, {len(data.get('teams') or {})} teams")
        return "; ".join(lines)

    # --- fetch --------------------------------------------------------------

    def fetch(self) -> Iterator[Record]:
        """Every record once; accounts come last, merged across organizations (one Quay user, one account)."""
        accounts = Accounts()
        seen: set[str] = set()
        for org in self.orgs:
            for record in self._organization(org, accounts):
                key = f"grant:{record.key}" if isinstance(record, GrantRecord) else record.external_id
                if key not in seen:
                    seen.add(key)
                    yield record
        yield from accounts.records()

    def _organization(self, org: str, accounts: Accounts) -> Iterator[Record]:
        data = self._get_org(org)
        if not data.get("is_admin"):
            raise PermissionProblem(
                f"the token's user is not an administrator of the Quay organization {org}: members, robots, team "
                "invitations and default permissions need an org admin (OAuth token with org:admin and repo:admin)"
            )
        base = f"/organization/{segment(org)}"
        organization = self.extract_organization(data)
        yield organization
        teams = [data["teams"][name] for name in data.get("ordered_teams") or data.get("teams") or {}]
        for team in teams:
            yield self.extract_team(team, org)
            grant = self.team_role_grant(team, org)
            if grant is not None:
                yield grant

        named_repos: dict[str, None] = {}  # repositories with a direct user or robot permission
        for member in self._list(f"{base}/members", "members"):
            yield accounts.user(member["name"], member=True).grant(org_id(org), GrantKind.MEMBERSHIP, "member")
            named_repos.update(dict.fromkeys(member.get("repositories") or ()))
        for collaborator in self._list(f"{base}/collaborators", "collaborators"):
            accounts.user(collaborator["name"], outside=True)
            named_repos.update(dict.fromkeys(collaborator.get("repositories") or ()))
        # {REF}/robot (getOrgRobots): token=false, or Quay sends every robot's secret.
        for robot in self._list(f"{base}/robots", "robots", {"permissions": "true", "token": "false"}):
            account = accounts.robot(self.extract_robot(robot, org))
            yield account.grant(org_id(org), GrantKind.MEMBERSHIP, "robot")
            named_repos.update(dict.fromkeys(robot.get("repositories") or ()))

        repos: dict[str, ResourceRecord] = {}
        for repo_json in self._repositories(org):
            repo = self.extract_repository(repo_json, org)
            repos[repo_json["name"]] = repo
            yield repo
            if repo_json.get("is_public"):
                yield accounts.anonymous().grant(repo.external_id, GrantKind.PERMISSION, "read", via="direct")

        yield from self._team_members(org, teams, accounts)
        yield from self._team_permissions(org, teams, repos)
        yield from self._direct_permissions(org, list(named_repos), repos, accounts)
        yield from self._prototypes(org, accounts)

    def _team_members(self, org: str, teams: list[dict], accounts: Accounts) -> Iterator[Record]:
        # {REF}/team (getOrganizationTeamMembers)
        def read(team: dict) -> dict:
            return self._get(
                f"/organization/{segment(org)}/team/{segment(team['name'])}/members", {"includePending": "true"}
            )

        for team, data in zip(teams, self.http.imap(read, teams), strict=True):
            holder = team_id(org, team["name"])
            role = team.get("role") or "member"
            for member in data.get("members") or ():
                if member.get("kind") == "invite":
                    account = accounts.invite(member["email"])
                    yield account.grant(holder, GrantKind.INVITATION, role, level=team_level(role), via="invitation")
                elif member.get("invited"):
                    account = accounts.user(member["name"], invited=True)
                    yield account.grant(holder, GrantKind.INVITATION, role, level=team_level(role), via="invitation")
                else:
                    name = member["name"]
                    robot = member.get("is_robot")
                    account = accounts.robot_by_name(name) if robot else accounts.user(name, member=True)
                    yield account.grant(holder, GrantKind.MEMBERSHIP, role, level=team_level(role))

    def _team_permissions(self, org: str, teams: list[dict], repos: dict[str, ResourceRecord]) -> Iterator[Record]:
        """Read from the team side, only for teams the org says hold any (repo_count); min(R, T) in practice."""
        holding = [team for team in teams if team.get("repo_count") != 0]

        def read(team: dict) -> list:
            path = f"/organization/{segment(org)}/team/{segment(team['name'])}/permissions"
            return self._list(path, "permissions")

        for team, permissions in zip(holding, self.http.imap(read, holding), strict=True):
            for permission in permissions:
                repo_json = permission["repository"]
                repo = repos.get(repo_json["name"]) or self.extract_repository(repo_json, org)
                yield repo  # already yielded unless created mid-sync; fetch() drops the duplicate
                yield GrantRecord(
                    group_external_id=team_id(org, team["name"]),
                    resource_external_id=repo.external_id,
                    kind=GrantKind.PERMISSION,
                    permission=permission["role"],
                    level=repo_level(permission["role"]),
                    via=team_via(org, team["name"]),
                )

    def _direct_permissions(
        self, org: str, names: list[str], repos: dict[str, ResourceRecord], accounts: Accounts
    ) -> Iterator[Record]:
        """User and robot permissions, only on the repositories the members, collaborators and robots name."""

        # {REF}/permission (listRepoUserPermissions)
        def read(name: str) -> dict | None:
            path = f"/repository/{repo_path(org, name)}/permissions/user/"
            try:
                return self._get(path).get("permissions") or {}
            except HttpError as exc:
                if exc.status == 404:  # deleted since the members list named it
                    return None
                raise

        for name, permissions in zip(names, self.http.imap(read, names), strict=True):
            if permissions is None:
                continue
            repo = repos.get(name) or self.extract_repository({"name": name, "is_public": False}, org)
            yield repo
            for holder_name, permission in permissions.items():
                if permission.get("is_robot"):
                    account = accounts.robot_by_name(holder_name)
                else:
                    account = accounts.user(holder_name, outside=permission.get("is_org_member") is False)
                role = permission["role"]
                yield account.grant(repo.external_id, GrantKind.PERMISSION, role, level=repo_level(role))

    def _prototypes(self, org: str, accounts: Accounts) -> Iterator[Record]:
        """Default permissions, merged per (delegate, activating user): Quay lets the same pair repeat."""
        # {REF}/prototype (getOrganizationPrototypePermissions)
        merged: dict[tuple[str, str, str], GrantRecord] = {}
        for proto in self._list(f"/organization/{segment(org)}/prototypes", "prototypes"):
            delegate = proto["delegate"]
            activating = (proto.get("activating_user") or {}).get("name")
            via = f"{DEFAULT_PERMISSION}:{activating}" if activating else DEFAULT_PERMISSION
            holder: dict[str, str] = {}
            if delegate.get("kind") == "team":
                holder["group_external_id"] = team_id(org, delegate["name"])
            elif delegate.get("is_robot"):
                holder["account_external_id"] = accounts.robot_by_name(delegate["name"]).external_id
            else:
                holder["account_external_id"] = accounts.user(delegate["name"]).external_id
            key = (delegate.get("kind", "user"), delegate["name"], via)
            previous = merged.get(key)
            ids = [*(previous.attributes["prototype_ids"] if previous else ()), proto["id"]]
            role = proto["role"]
            if previous and repo_level(previous.permission) > repo_level(role):
                role = previous.permission
            merged[key] = GrantRecord(
                resource_external_id=org_id(org),
                kind=GrantKind.PERMISSION,
                permission=role,
                level=repo_level(role),
                via=via,
                applies_to_self=False,
                attributes={"prototype_ids": sorted(ids), "activating_user": activating},
                **holder,
            )
        yield from merged.values()

    # --- requests -----------------------------------------------------------

    def _get(self, path: str, params: dict | None = None) -> dict:
        data = self.http.get(path, params).data
        if not isinstance(data, dict):
            raise ConnectorError(f"GET {path}: Quay answered with something other than a JSON object")
        return data

    def _list(self, path: str, key: str, params: dict | None = None) -> list:
        items = self._get(path, params).get(key)
        if not isinstance(items, list):
            raise ConnectorError(f"GET {path}: the response has no {key!r} list")
        return items

    def _get_org(self, org: str) -> dict:
        # {REF}/organization (getOrganization)
        try:
            return self._get(f"/organization/{segment(org)}")
        except HttpError as exc:
            if exc.status == 404:
                raise PermissionProblem(f"Quay answered 404 for the organization {org}: it does not exist") from exc
            raise

    def _repositories(self, org: str) -> Iterator[dict]:
        """Every repository, following the body's opaque next_page (Quay's pagination; no Link header).

        Quay restarts at the first page for a token it cannot decrypt, so a page of names already seen, or a
        token seen before, stops the sync instead of looping or double-counting.
        """
        # {REF}/repository (listRepos)
        seen: set[str] = set()
        tokens: set[str] = set()
        params = {"namespace": org}
        while True:
            data = self._get("/repository", params)
            page = data.get("repositories") or []
            if tokens and page and all(repo["name"] in seen for repo in page):
                raise ConnectorError(f"the repository list of {org} restarted from the first page (page token refused)")
            for repo in page:
                if repo["name"] not in seen:
                    seen.add(repo["name"])
                    yield repo
            token = data.get("next_page")
            if not token:
                return
            if token in tokens:
                raise ConnectorError(f"the repository list of {org} returned a page token twice")
            tokens.add(token)
            params = {"namespace": org, "next_page": token}

    # --- extract hooks: raw payload -> records --------------------------------

    def extract_organization(self, org: dict) -> ResourceRecord:
        return ResourceRecord(
            external_id=org_id(org["name"]),
            type=ResourceType.ORGANIZATION,
            path=org["name"],
            name=org["name"],
            attributes={"org": org["name"]},
        )

    def extract_team(self, team: dict, org: str) -> ResourceRecord:
        return ResourceRecord(
            external_id=team_id(org, team["name"]),
            type=ResourceType.TEAM,
            path=f"{org}/team/{team['name']}",
            name=team["name"],
            parent_external_id=org_id(org),
            attributes={
                "org": org,
                "team": team["name"],
                "role": team.get("role"),
                "description": team.get("description") or "",
                "synced": bool(team.get("is_synced")),
            },
        )

    def team_role_grant(self, team: dict, org: str) -> GrantRecord | None:
        """A team's organization-wide role, held by the team: admin is org_admin, creator may create repos."""
        role = team.get("role") or "member"
        holder = {"group_external_id": team_id(org, team["name"]), "resource_external_id": org_id(org)}
        if role == "admin":
            return GrantRecord(
                kind=GrantKind.PERMISSION,
                permission="admin",
                level=Level.OWNER,
                via="org_admin",
                cascade_to=("repository",),
                cascade_level=Level.ADMIN,
                **holder,
            )
        if role == "creator":
            via = team_via(org, team["name"])
            return GrantRecord(kind=GrantKind.PERMISSION, permission="creator", level=Level.WRITE, via=via, **holder)
        team_level(role)  # member: membership on the org is recorded per member; anything else is unknown
        return None

    def extract_repository(self, repo: dict, org: str) -> ResourceRecord:
        return ResourceRecord(
            external_id=repo_id(org, repo["name"]),
            type=ResourceType.REPOSITORY,
            path=f"{org}/{repo['name']}",
            name=repo["name"],
            parent_external_id=org_id(org),
            attributes={
                "org": org,
                "repo": repo["name"],
                "public": bool(repo.get("is_public")),
                "state": repo.get("state"),
            },
        )

    def extract_robot(self, robot: dict, org: str) -> AccountRecord:
        """A robot with what Quay tells about it; its token is never requested, and dropped if sent anyway."""
        if "token" in robot:
            logger.warning("Quay sent robot tokens although token=false was asked; they were discarded")
        return AccountRecord(
            external_id=user_id(robot["name"]),
            login=robot["name"],
            type=AccountType.ROBOT,
            last_active_at=_date(robot.get("last_accessed")),
            attributes={
                "org": org,
                "description": robot.get("description") or "",
                "created": _iso(robot.get("created")),
                # Quay robot credentials do not expire; the list does not say who created a robot.
                "expires_at": None,
                "created_by": None,
            },
        )

    # --- revocation ---------------------------------------------------------------

    def cannot_revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> str | None:
        return quay_revoke.plan(grant, downgrade_to).reason

    def revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> RevocationResult:
        return quay_revoke.execute(self.http, grant, downgrade_to)

    def is_present(self, grant: GrantTarget) -> bool | None:
        return quay_revoke.present(self.http, grant)


def _date(value: str | None) -> datetime | None:
    """Quay's dates are RFC 2822 (email.utils.formatdate)."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    # "-0000" (what formatdate writes) parses as naive: it means UTC.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _iso(value: str | None) -> str | None:
    parsed = _date(value)
    return parsed.isoformat() if parsed else None
