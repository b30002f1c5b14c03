"""Taking a recorded Quay grant away, then re-reading to say what really happened.

Quay answers 400 ``DataModelException`` (not 404) when the thing to remove is not there (team member,
repository permission, robot), and 204 when asked to remove a user who is not an organization member
(quay/quay ``endpoints/decorated.py``, ``data/model/team.py``, ``data/model/permission.py``,
``data/model/organization.py``). So no answer is trusted on its own: every write is followed by a read of
the same grant, and the outcome is normalized — revoked (gone after our write), already_absent (gone
without it) or failed (still there, with Quay's message). Calls that would create what is missing (``PUT``
on a repository permission, a team or a prototype) are only made after a read shows the grant exists.

Write endpoints (API reference https://docs.redhat.com/en/documentation/red_hat_quay/3/html/red_hat_quay_api_reference,
chapters organization, team, robot, permission and prototype): ``DELETE /organization/{org}/members/{user}``,
``DELETE …/team/{team}/members/{member}`` (also cancels a user's pending invite), ``DELETE
…/team/{team}/invite/{email}``, ``PUT …/team/{team}`` (the team's role), ``DELETE …/robots/{short}``,
``PUT``/``DELETE /repository/{org}/{repo}/permissions/{user|team}/{name}``, ``PUT``/``DELETE
…/prototypes/{id}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeaccess.redact import redact

from ..base import ConnectorError, GrantTarget, Outcome, RevocationResult, Unsupported
from ..choices import AccountType, GrantKind, Level, ResourceType
from .quay_roles import (
    DEFAULT_PERMISSION,
    REPO_ROLE_FOR_LEVEL,
    REPO_ROLE_LEVELS,
    TEAM_ROLE_FOR_LEVEL,
    TEAM_ROLE_LEVELS,
    repo_path,
    segment,
)

Action = Callable[["_Calls"], RevocationResult]


@dataclass(frozen=True)
class Plan:
    """What revoke() would do for a grant: an action, or the reason it cannot."""

    action: Action | None = None
    reason: str | None = None


def plan(grant: GrantTarget, downgrade_to: Level | None) -> Plan:
    org = grant.resource.attributes.get("org")
    if not org:
        return Plan(reason=f"{grant.resource.path} carries no organization name: sync the connector again")
    if downgrade_to is not None and downgrade_to >= grant.level:
        return Plan(reason=f"a downgrade must go below the grant's level ({Level(grant.level).label})")
    kind, resource = grant.resource.type, grant.resource
    if kind == ResourceType.ORGANIZATION:
        return _organization_plan(grant, org, downgrade_to)
    if kind == ResourceType.TEAM:
        return _team_plan(grant, org, resource.attributes.get("team") or resource.path.rsplit("/", 1)[-1], downgrade_to)
    if kind == ResourceType.REPOSITORY and resource.attributes.get("repo"):
        return _repository_plan(grant, org, resource.attributes["repo"], downgrade_to)
    return Plan(reason=f"no Quay call takes away a grant on a {kind}")


def execute(http, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
    chosen = plan(grant, downgrade_to)
    if chosen.action is None:
        raise Unsupported(chosen.reason or "not supported")
    try:
        return chosen.action(_Calls(http))
    except ConnectorError as exc:  # permission problems, exhausted retries: reported, never raised past here
        return RevocationResult(Outcome.FAILED, redact(str(exc)))


def present(http, grant: GrantTarget) -> bool | None:
    """Whether the grant is still there, for the grants whose removal is a single write (None: not said)."""
    if plan(grant, None).action is None:
        return None
    org, resource, account = grant.resource.attributes.get("org"), grant.resource, grant.account
    calls = _Calls(http)
    if resource.type == ResourceType.ORGANIZATION and grant.kind == GrantKind.MEMBERSHIP and account is not None:
        if account.type == AccountType.ROBOT:
            robots = http.get(f"/organization/{segment(org)}/robots", {"token": "false"}).data.get("robots") or []
            return any(robot.get("name") == account.login for robot in robots)
        return calls._is_member(f"/organization/{segment(org)}/members/{segment(account.login)}")
    if resource.type == ResourceType.TEAM and account is not None and grant.kind == GrantKind.MEMBERSHIP:
        team = resource.attributes.get("team") or resource.path.rsplit("/", 1)[-1]
        members = calls._team_members(f"/organization/{segment(org)}/team/{segment(team)}")
        return any(m.get("name") == account.login and not m.get("invited") for m in members)
    if resource.type == ResourceType.REPOSITORY and resource.attributes.get("repo") and grant.group is None:
        path = f"/repository/{repo_path(org, resource.attributes['repo'])}/permissions/user/{segment(account.login)}"
        return calls._repo_role(path) is not None
    return None


# --- plans ----------------------------------------------------------------------------


def _organization_plan(grant: GrantTarget, org: str, downgrade_to: Level | None) -> Plan:
    if grant.via.startswith(DEFAULT_PERMISSION):
        ids = list(grant.attributes.get("prototype_ids") or ())
        if not ids:
            return Plan(reason="the default permission carries no prototype id: sync the connector again")
        if downgrade_to is not None and downgrade_to not in REPO_ROLE_FOR_LEVEL:
            return Plan(reason="a default permission's role is read, write or admin")
        role = REPO_ROLE_FOR_LEVEL.get(downgrade_to) if downgrade_to is not None else None
        return Plan(lambda calls: calls.prototypes(org, ids, role))
    if grant.group is not None and grant.kind == GrantKind.PERMISSION:
        team = grant.group.attributes.get("team") or grant.group.path.rsplit("/", 1)[-1]
        if downgrade_to is None:
            target = "member"  # the team keeps its members and repositories, loses its org-wide role
        elif downgrade_to in TEAM_ROLE_FOR_LEVEL:
            target = TEAM_ROLE_FOR_LEVEL[downgrade_to]
        else:
            return Plan(reason="Quay has no team role between creator and admin: downgrade to write or read")
        return Plan(lambda calls: calls.team_role(org, team, target))
    account = grant.account
    if account is None or grant.kind != GrantKind.MEMBERSHIP:
        return Plan(reason="no Quay call takes away this organization grant")
    # Memberships of the org are read level: plan() already refused any downgrade of them.
    if account.type == AccountType.ROBOT:
        namespace, _, short = account.login.partition("+")
        if namespace != org or not short:
            return Plan(reason=f"{account.login} is not a robot of {org}")
        return Plan(lambda calls: calls.delete_robot(org, short, account.login))
    return Plan(lambda calls: calls.remove_member(org, account.login))


def _team_plan(grant: GrantTarget, org: str, team: str, downgrade_to: Level | None) -> Plan:
    account = grant.account
    if account is None:
        return Plan(reason="no Quay call takes away this team grant")
    if downgrade_to is not None:
        return Plan(reason="a team membership's level is the team's role: downgrade the team, or move the account")
    if grant.kind == GrantKind.INVITATION:
        if account.external_id.startswith("invite:"):
            return Plan(lambda calls: calls.delete_email_invite(org, team, account.login))
        return Plan(lambda calls: calls.remove_from_team(org, team, account.login, invited=True))
    if grant.kind != GrantKind.MEMBERSHIP:
        return Plan(reason="no Quay call takes away this team grant")
    if grant.resource.attributes.get("synced") and account.type != AccountType.ROBOT:
        return Plan(reason=f"team {team} is synced from a directory group: remove {account.login} there")
    return Plan(lambda calls: calls.remove_from_team(org, team, account.login, invited=False))


def _repository_plan(grant: GrantTarget, org: str, repo: str, downgrade_to: Level | None) -> Plan:
    role = REPO_ROLE_FOR_LEVEL.get(downgrade_to) if downgrade_to is not None else None
    if downgrade_to is not None and role is None:
        return Plan(reason="a repository role is read, write or admin")
    if grant.group is not None:
        team = grant.group.attributes.get("team") or grant.group.path.rsplit("/", 1)[-1]
        return Plan(lambda calls: calls.repo_permission(org, repo, "team", team, role))
    account = grant.account
    if account is None:
        return Plan(reason="no Quay call takes away this repository grant")
    if account.type == AccountType.PSEUDO:
        return Plan(reason=f"anonymous read comes from {org}/{repo} being public: make it private in Quay")
    return Plan(lambda calls: calls.repo_permission(org, repo, "user", account.login, role))


# --- calls ----------------------------------------------------------------------------

_FORGIVING = (200, 201, 204, 400, 404)  # statuses we judge by re-reading, not by the answer


class _Calls:
    def __init__(self, http):
        self.http = http

    def _write(self, method: str, path: str, body: dict | None = None):
        return self.http.request(method, path, json=body, ok=_FORGIVING)

    def _outcome(self, answer, still_there: bool, what: str) -> RevocationResult:
        said = _message(answer)
        if still_there:
            return RevocationResult(
                Outcome.FAILED, said or f"{what} is still there after Quay answered {answer.status}"
            )
        if answer.status in (200, 201, 204):
            return RevocationResult(Outcome.REVOKED, f"{what} removed")
        return RevocationResult(Outcome.ALREADY_ABSENT, f"{what} was not there ({answer.status}: {said})")

    # organization members and robots

    def remove_member(self, org: str, user: str) -> RevocationResult:
        # Quay answers 204 for a non-member too, so only a read before tells "already absent" apart.
        path = f"/organization/{segment(org)}/members/{segment(user)}"
        if not self._is_member(path):
            return RevocationResult(Outcome.ALREADY_ABSENT, f"{user} is not a member of {org}")
        answer = self._write("DELETE", path)
        return self._outcome(answer, self._is_member(path), f"{user}'s membership of {org}")

    def _is_member(self, path: str) -> bool:
        return self.http.request("GET", path, ok=(200, 404)).status == 200

    def delete_robot(self, org: str, short: str, name: str) -> RevocationResult:
        answer = self._write("DELETE", f"/organization/{segment(org)}/robots/{segment(short)}")
        robots = self.http.get(f"/organization/{segment(org)}/robots", {"token": "false"}).data.get("robots") or []
        return self._outcome(answer, any(robot.get("name") == name for robot in robots), f"robot {name}")

    # teams

    def remove_from_team(self, org: str, team: str, member: str, *, invited: bool) -> RevocationResult:
        base = f"/organization/{segment(org)}/team/{segment(team)}"
        answer = self._write("DELETE", f"{base}/members/{segment(member)}")
        listed = self._team_members(base)
        present = any(m.get("name") == member and bool(m.get("invited")) == invited for m in listed)
        what = f"{member}'s {'invitation to' if invited else 'membership of'} team {team}"
        return self._outcome(answer, present, what)

    def delete_email_invite(self, org: str, team: str, email: str) -> RevocationResult:
        base = f"/organization/{segment(org)}/team/{segment(team)}"
        answer = self._write("DELETE", f"{base}/invite/{segment(email)}")
        present = any(m.get("email") == email for m in self._team_members(base))
        return self._outcome(answer, present, f"the invitation of {email} to team {team}")

    def _team_members(self, base: str) -> list[dict]:
        answer = self.http.request("GET", f"{base}/members", params={"includePending": "true"}, ok=(200, 404))
        if answer.status == 404:  # the team is gone, and its members with it
            return []
        return (answer.data or {}).get("members") or []

    def team_role(self, org: str, team: str, role: str) -> RevocationResult:
        # PUT creates a missing team: read first, and only change a team that exists with a higher role.
        current = self._team_role(org, team)
        what = f"team {team}'s organization role"
        if current is None:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"team {team} no longer exists in {org}")
        if TEAM_ROLE_LEVELS.get(current, Level.OWNER) <= TEAM_ROLE_LEVELS[role]:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"{what} is already {current}")
        answer = self._write("PUT", f"/organization/{segment(org)}/team/{segment(team)}", {"role": role})
        after = self._team_role(org, team)
        if after == role:
            return RevocationResult(Outcome.REVOKED, f"{what} changed from {current} to {role}")
        return RevocationResult(Outcome.FAILED, _message(answer) or f"{what} is still {after}")

    def _team_role(self, org: str, team: str) -> str | None:
        teams = self.http.get(f"/organization/{segment(org)}").data.get("teams") or {}
        return (teams.get(team) or {}).get("role")

    # repositories

    def repo_permission(self, org: str, repo: str, kind: str, name: str, role: str | None) -> RevocationResult:
        path = f"/repository/{repo_path(org, repo)}/permissions/{kind}/{segment(name)}"
        what = f"{name}'s permission on {org}/{repo}"
        if role is None:
            answer = self._write("DELETE", path)
            return self._outcome(answer, self._repo_role(path) is not None, what)
        # PUT creates a missing permission: read first.
        current = self._repo_role(path)
        if current is None:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"{what} is gone")
        if REPO_ROLE_LEVELS.get(current, Level.ADMIN) <= REPO_ROLE_LEVELS[role]:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"{what} is already {current}")
        answer = self._write("PUT", path, {"role": role})
        after = self._repo_role(path)
        if after == role:
            return RevocationResult(Outcome.REVOKED, f"{what} changed from {current} to {role}")
        return RevocationResult(Outcome.FAILED, _message(answer) or f"{what} is still {after}")

    def _repo_role(self, path: str) -> str | None:
        # 400 (DataModelException): no such permission; 404: no such repository.
        answer = self.http.request("GET", path, ok=(200, 400, 404))
        return (answer.data or {}).get("role") if answer.status == 200 else None

    # default permissions

    def prototypes(self, org: str, ids: list[str], role: str | None) -> RevocationResult:
        base = f"/organization/{segment(org)}/prototypes"
        present = self._prototype_roles(base)
        mine = [proto_id for proto_id in ids if proto_id in present]
        what = f"default permission {', '.join(ids)}"
        if not mine:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"{what} is gone")
        if role is not None:
            mine = [p for p in mine if REPO_ROLE_LEVELS.get(present[p], Level.ADMIN) > REPO_ROLE_LEVELS[role]]
            if not mine:
                return RevocationResult(Outcome.ALREADY_ABSENT, f"{what} is already {role} or lower")
        answers = [
            self._write("PUT", f"{base}/{segment(p)}", {"role": role})
            if role
            else self._write("DELETE", f"{base}/{segment(p)}")
            for p in mine
        ]
        after = self._prototype_roles(base)
        left = [p for p in mine if p in after and (role is None or after[p] != role)]
        if left:
            said = next((_message(a) for a in answers if _message(a)), "")
            return RevocationResult(Outcome.FAILED, said or f"default permission {', '.join(left)} is unchanged")
        return RevocationResult(Outcome.REVOKED, f"{what} {'set to ' + role if role else 'deleted'}")

    def _prototype_roles(self, base: str) -> dict[str, str]:
        prototypes = self.http.get(base).data.get("prototypes") or []
        return {proto["id"]: proto["role"] for proto in prototypes}


def _message(answer) -> str:
    """Quay's message: {"message"} for data model errors, problem+json (detail, error_message) otherwise."""
    data = answer.data if isinstance(answer.data, dict) else {}
    for key in ("message", "error_message", "detail"):
        if isinstance(data.get(key), str) and data[key]:
            return data[key]
    return ""
