"""Nested GitHub teams: parents before children, and who is an immediate member of which team.

GitHub's team member lists include the members of child teams
(https://docs.github.com/en/rest/teams/members#list-team-members), but a membership is granted, and
revoked, at the team where the user was added. A user listed on a team and on none of its descendants
is certainly an immediate member; only users listed on both need a per-user check, so the number of
extra calls grows with overlapping memberships, not with team sizes.

Caveat: GitHub documents "Get team membership for a user" with the same sentence about child teams, so on
github.com the check may confirm a child-only member on the parent as well. That records one membership
too many (never one too few), and effective access is unchanged either way, since child-team members
reach the parent's grants anyway. GraphQL's Team.members(membership: IMMEDIATE) answers it exactly.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable

# login -> (user JSON, role from the list filter)
Listed = dict[str, tuple[dict, str]]


def parents_first(teams: list[dict]) -> list[dict]:
    """Teams sorted by depth, so every parent comes before its children (stable otherwise)."""
    by_id = {team["id"]: team for team in teams}

    def depth(team: dict) -> int:
        level, parent = 0, team.get("parent")
        while parent and parent["id"] in by_id and level <= len(by_id):  # the bound guards against a cycle
            level += 1
            parent = by_id[parent["id"]].get("parent")
        return level

    return sorted(teams, key=depth)


def immediate_members(
    teams: list[dict],
    listed_by_team: dict[int, Listed],
    confirm_many: Callable[[list[tuple[dict, str]]], Iterable[str | None]],
) -> dict[int, list[tuple[dict, str]]]:
    """team id -> [(user, role)] of its immediate members.

    confirm_many receives (team, login) pairs for users listed on a team and on one of its descendants
    and yields, in order, the user's role on that very team or None when they are only in a descendant.
    """
    children: dict[int, list[int]] = defaultdict(list)
    for team in teams:
        parent = team.get("parent")
        if parent and parent["id"] in listed_by_team:
            children[parent["id"]].append(team["id"])

    def below(team_id: int) -> set[str]:
        logins: set[str] = set()
        stack = list(children[team_id])
        while stack:
            child = stack.pop()
            logins.update(listed_by_team[child])
            stack.extend(children[child])
        return logins

    immediate: dict[int, list[tuple[dict, str]]] = {}
    ambiguous: list[tuple[dict, str]] = []
    for team in teams:
        listed = listed_by_team[team["id"]]
        in_descendants = below(team["id"])
        immediate[team["id"]] = [entry for login, entry in listed.items() if login not in in_descendants]
        ambiguous += [(team, login) for login in listed if login in in_descendants]

    for (team, login), role in zip(ambiguous, confirm_many(ambiguous), strict=True):
        if role is not None:
            user, listed_role = listed_by_team[team["id"]][login]
            # The checked role is the one on this team; the list filter may reflect a child team's role.
            immediate[team["id"]].append((user, role or listed_role))
    return immediate
