"""One person across two systems: GitHub-like teams (nested) and GitLab-like groups (cascading, shared)."""

from connectors.base import ResourceRecord
from connectors.choices import AccountType, GrantKind, Level
from tests.risk.builders import grant, human, link, member, nonhuman, org, own, person, repo, sync, team


def github_records(extra_repos: int = 0):
    repos = [repo("api"), repo("site", visibility="public"), *[repo(f"r{i}") for i in range(extra_repos)]]
    return [
        org(),
        team("eng"),
        team("eng-ci", parent="team:eng"),
        *repos,
        human("alice", two_factor=True),
        human("bob"),
        human("ed"),
        nonhuman("ci"),
        member("org:1", "user:alice"),
        member("org:1", "user:bob"),
        member("team:eng-ci", "user:alice"),
        member("team:eng", "user:bob"),
        grant("org:1", "user:ed", level=Level.OWNER, via="org_owner", kind=GrantKind.MEMBERSHIP,
              cascade_to=("repository",), cascade_level=Level.ADMIN),
        grant("repo:api", "team:eng", via="team:acme/eng"),
        grant("repo:api", "user:bob", level=Level.ADMIN),
        grant("repo:api", "robot:ci", level=Level.READ),
        grant("org:1", "org:1", level=Level.READ, via="org_base_permission", cascade_to=("repository",),
              applies_to_self=False),
        # Direct grants of alice on the extra repositories (the "500 grants" shape).
        *[grant(f"repo:r{i}", "user:alice", level=Level.WRITE) for i in range(extra_repos)],
    ]  # fmt: skip


def gitlab_records():
    groups = [
        ResourceRecord("group:1", "group", "acme"),
        ResourceRecord("group:2", "group", "acme/sub", parent_external_id="group:1"),
        ResourceRecord("project:1", "project", "acme/sub/app", parent_external_id="group:2"),
        ResourceRecord("group:9", "group", "partners"),
        ResourceRecord("project:9", "project", "partners/tool", parent_external_id="group:9"),
    ]
    return [
        *groups,
        human("alice"),
        nonhuman("deploy_token:7", AccountType.ACCESS_TOKEN),
        grant("group:1", "user:alice", level=Level.ADMIN, via="direct", kind=GrantKind.MEMBERSHIP,
              permission="Maintainer", cascade_to=("group", "project"), cascade_via="group:acme", rolls_up=False),
        grant("project:9", "group:2", level=Level.WRITE, via="shared_group:acme/sub", capped=True,
              permission="Developer"),
        grant("project:1", "access_token:deploy_token:7", level=Level.READ, permission="read_repository"),
    ]  # fmt: skip


def build(extra_repos: int = 0):
    """Two synced connectors, alice linked in both, bob a leaver; returns (github, gitlab, alice, bob)."""
    gh = sync("gh", github_records(extra_repos))
    gl = sync("gl", gitlab_records(), kind="gitlab")
    boss = person("boss@acme.test", name="Boss")
    alice = person("alice@acme.test", name="Alice Example", manager=boss)
    bob = person("bob@acme.test", leaver=True)
    link(gh, "alice", alice)
    link(gl, "alice", alice)
    link(gh, "bob", bob)
    link(gh, "ed", person("ed@acme.test"))
    own(gh, "ci", alice)
    from connectors import risk

    risk.refresh_all()
    return gh, gl, alice, bob
