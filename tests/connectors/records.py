"""A tiny in-memory upstream for sync-engine tests: records in, no HTTP.

The engine's behaviour (staging, comparison, temporal rows, threshold,
fail-closed) does not depend on where records come from; end-to-end tests
against the GitHub simulator cover the HTTP path.
"""

from dataclasses import dataclass, field

from connectors.base import AccountRecord, ConnectorError, GrantRecord, ResourceRecord
from connectors.choices import GrantKind, Level
from connectors.replay import Replay


@dataclass
class RecordSource:
    records: list = field(default_factory=list)
    fail_after: int | None = None

    def __call__(self, connector) -> Replay:
        """A connector factory for run_sync: the records, failing part-way if asked."""
        return Replay(self._stream())

    def _stream(self):
        for i, record in enumerate(self.records):
            if self.fail_after is not None and i >= self.fail_after:
                raise ConnectorError("upstream returned 502 on page 3 after 4 retries")
            yield record


def small_org(*, base="read", extra_members=(), drop=(), push_level="push"):
    """An org, a parent/child team pair, two repos and a few grants."""
    org = ResourceRecord("org:1", "organization", "acme")
    parent = ResourceRecord("team:1", "team", "acme/team/eng", parent_external_id="org:1")
    child = ResourceRecord("team:2", "team", "acme/team/eng-ci", parent_external_id="team:1")
    repos = [ResourceRecord(f"repo:{i}", "repository", f"acme/r{i}", parent_external_id="org:1") for i in (1, 2)]
    people = ["alice", "bob", "carol", *extra_members]
    accounts = [AccountRecord(f"user:{p}", p, email=f"{p}@acme.test") for p in people]
    grants = [
        GrantRecord(
            "org:1",
            GrantKind.MEMBERSHIP,
            "admin",
            Level.OWNER,
            "org_owner",
            account_external_id="user:alice",
            cascade_to=("repository",),
            cascade_level=Level.ADMIN,
        ),
        *[
            GrantRecord(
                "org:1", GrantKind.MEMBERSHIP, "member", Level.READ, "membership", account_external_id=f"user:{p}"
            )
            for p in people[1:]
        ],
        GrantRecord(
            "team:1", GrantKind.MEMBERSHIP, "maintainer", Level.ADMIN, "membership", account_external_id="user:bob"
        ),
        GrantRecord(
            "team:2", GrantKind.MEMBERSHIP, "member", Level.READ, "membership", account_external_id="user:carol"
        ),
        GrantRecord(
            "repo:1", GrantKind.PERMISSION, push_level, Level.WRITE, "team:acme/eng", group_external_id="team:1"
        ),
        GrantRecord("repo:2", GrantKind.PERMISSION, "admin", Level.ADMIN, "direct", account_external_id="user:bob"),
    ]
    if base:
        grants.append(
            GrantRecord(
                "org:1",
                GrantKind.PERMISSION,
                base,
                Level.READ,
                "org_base_permission",
                group_external_id="org:1",
                cascade_to=("repository",),
                cascade_level=Level.READ,
                applies_to_self=False,
            )
        )
    records = [org, parent, child, *repos, *accounts, *grants]
    return [r for r in records if getattr(r, "account_external_id", None) not in drop]
