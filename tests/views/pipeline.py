"""A small GitHub organization on a loopback simulator, with hostile names, synced through the real engine.

Shared by the view tests (tests/views) and the browser tests (tests/ui).
"""

from contextlib import contextmanager

from connectors.simulators.github import GitHubOrg, GitHubSimulator

# Names an upstream administrator (or attacker) can choose, as the pages must show them: literally.
HOSTILE_LOGINS = [
    '<script>alert("login")</script>',
    "<img src=x onerror=alert(2)>",
    "javascript:alert(3)",
    '{{ 7|add:7 }}{% now "Y" %}',
    '=HYPERLINK("http://evil.example","x")',
    "rtl\u202egnp.exe\u200b",
]
HOSTILE_TEAM_NAME = '"><svg onload=alert(4)>' + "x" * 200
# Longer than the inventory stores (300 characters): the sync fails cleanly, and says so as text.
TEN_KB_LOGIN = "<script>alert(5)</script>" + "A" * 10_240


def small_org(*, hostile: bool = True, seed: int = 4, members: int = 12) -> GitHubOrg:
    org = GitHubOrg.generate("acme", seed=seed, members=members, outside_collaborators=2, teams=3, repos=4)
    if hostile:
        for login in HOSTILE_LOGINS:
            org.add_member(login, two_factor=False)
        org.add_team("evil-team", name=HOSTILE_TEAM_NAME)
        org.add_team_member("evil-team", HOSTILE_LOGINS[0])
    return org


@contextmanager
def github_simulator(org: GitHubOrg):
    with GitHubSimulator(org) as sim:
        yield sim
