"""Nested GitHub teams: parents before children, and who is an immediate member of which team.

GitHub's team member lists include the members of child teams, and so does the per-user membership
call (https://docs.github.com/en/rest/teams/members#list-team-members and
#get-team-membership-for-a-user), so REST cannot say exactly where a user listed on a team and on one
of its descendants was added. We record such a user at the descendant, unless the role the parent's
list reports differs from every role the descendants report: then the parent holds its own
membership. Effective access is the same either way (child-team members reach the parent's grants);
what can be missed is a second, identical membership on the parent, which shows up at the parent
once the child membership is revoked. GraphQL's Team.members(membership: IMMEDIATE) answers exactly.
"""

from collections import defaultdict

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


def immediate_members(teams: list[dict], listed_by_team: dict[int, Listed]) -> dict[int, list[tuple[dict, str]]]:
    """team id -> [(user, role)] of the members added at that team (see the module docstring)."""
    children: dict[int, list[int]] = defaultdict(list)
    for team in teams:
        parent = team.get("parent")
        if parent and parent["id"] in listed_by_team:
            children[parent["id"]].append(team["id"])

    def roles_below(team_id: int) -> dict[str, set[str]]:
        roles: dict[str, set[str]] = defaultdict(set)
        stack = list(children[team_id])
        while stack:
            child = stack.pop()
            for login, (_user, role) in listed_by_team[child].items():
                roles[login].add(role)
            stack.extend(children[child])
        return roles

    immediate: dict[int, list[tuple[dict, str]]] = {}
    for team in teams:
        below = roles_below(team["id"])
        immediate[team["id"]] = [
            (user, role)
            for login, (user, role) in listed_by_team[team["id"]].items()
            if login not in below or role not in below[login]
        ]
    return immediate
