"""The connector interface: what every upstream module implements.

A connector reads one upstream system and yields plain records (never
models); the sync engine stages and applies them. Raw payloads are mapped to
records in a few named ``extract_*`` hooks inside each provider module.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from .choices import AccountState, AccountType, GrantKind, Level


class ConnectorError(Exception):
    """An upstream call failed. ``permanent`` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class PermissionProblem(ConnectorError):
    """The token lacks a scope or role (401/403, or GitHub's 404 for a missing scope)."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class Unsupported(ConnectorError):
    """The connector cannot do what was asked; reported, never silently empty."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class ConfigurationError(ConnectorError):
    def __init__(self, message: str):
        super().__init__(message, permanent=True)


@dataclass(frozen=True)
class OptionSpec:
    help: str
    required: bool = False
    repeatable: bool = False


@dataclass(frozen=True)
class AccountRecord:
    external_id: str
    login: str
    type: str = AccountType.HUMAN
    name: str = ""
    email: str = ""
    state: str = AccountState.ACTIVE
    two_factor: bool | None = None
    is_admin: bool = False
    is_outside: bool = False
    last_active_at: datetime | None = None
    attributes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceRecord:
    external_id: str
    type: str
    path: str
    name: str = ""
    parent_external_id: str | None = None
    attributes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GrantRecord:
    """A grant as made upstream. Exactly one of account/group external id is set.

    via names the path in export terms (direct, team:ORG/SLUG, membership,
    org_owner, org_base_permission, invitation…).
    """

    resource_external_id: str
    kind: str
    permission: str
    level: Level
    via: str
    account_external_id: str | None = None
    group_external_id: str | None = None
    cascade_to: tuple[str, ...] = ()
    cascade_level: Level | None = None
    applies_to_self: bool = True
    attributes: dict = field(default_factory=dict)
    # See Entitlement: via on cascaded rows, membership rolling up to parent groups, level capped by membership.
    cascade_via: str = ""
    rolls_up: bool = True
    capped: bool = False

    def __post_init__(self):
        if (self.account_external_id is None) == (self.group_external_id is None):
            raise ValueError("a grant has exactly one holder: an account or a group")
        if self.kind not in GrantKind.values:
            raise ValueError(f"unknown grant kind {self.kind!r}")

    @property
    def key(self) -> str:
        """Same grant across runs: holder, resource, kind and path (not the permission)."""
        holder = (
            f"a:{self.account_external_id}" if self.account_external_id is not None else f"g:{self.group_external_id}"
        )
        raw = "\x1f".join((holder, self.resource_external_id, self.kind, self.via, str(self.applies_to_self)))
        return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()


Record = AccountRecord | ResourceRecord | GrantRecord


def digest(*parts) -> str:
    """Stable hash of a record's content, to detect changed rows without comparing columns."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode(), usedforsecurity=False).hexdigest()


class Outcome:
    """Normalized result of a revocation, whatever the upstream answered."""

    REVOKED = "revoked"
    ALREADY_ABSENT = "already_absent"
    FAILED = "failed"


@dataclass(frozen=True)
class Principal:
    """An account or group principal as the inventory knows it (enough to address it upstream)."""

    external_id: str
    login: str
    type: str
    attributes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """A resource as the inventory knows it."""

    external_id: str
    type: str
    path: str
    attributes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GrantTarget:
    """One recorded grant to take away: built from the inventory row, so revoke() needs no extra read to find it."""

    kind: str
    permission: str
    level: Level
    via: str
    resource: Target
    account: Principal | None = None
    group: Target | None = None
    attributes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RevocationResult:
    outcome: str
    message: str = ""


@dataclass
class ConnectorConfig:
    """What a provider needs to run: no models, so providers stay testable alone."""

    name: str
    api_url: str
    options: dict
    secret: Callable[[str], str]
    allow_private_network: bool = False


class BaseConnector(ABC):
    kind: ClassVar[str]
    label: ClassVar[str]
    default_base_url: ClassVar[str | None] = None
    option_specs: ClassVar[dict[str, OptionSpec]] = {}
    secret_names: ClassVar[tuple[str, ...]] = ("token",)
    # Grant vias (or "kind:via" patterns) this connector can revoke; empty until revocation lands.
    revocable: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: ConnectorConfig, http):
        self.config = config
        self.http = http

    @classmethod
    def api_url(cls, base_url: str) -> str:
        """The API root for a user-facing base URL."""
        return base_url.rstrip("/")

    @classmethod
    def validate_options(cls, options: dict) -> None:
        for name, spec in cls.option_specs.items():
            if spec.required and not options.get(name):
                raise ConfigurationError(f"option {name}= is required for {cls.kind}")
        unknown = set(options) - set(cls.option_specs) - {"allow_private_network"}
        if unknown:
            raise ConfigurationError(f"unknown option(s) for {cls.kind}: {', '.join(sorted(unknown))}")

    def auth_headers(self) -> dict[str, str]:
        return {}

    @abstractmethod
    def test(self) -> str:
        """One cheap authenticated call; returns what the token can see, or raises ConnectorError."""

    @abstractmethod
    def fetch(self) -> Iterator[Record]:
        """Stream every account, resource and grant. Raise ConnectorError on any failure."""

    def cannot_revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> str | None:
        """Why this grant cannot be revoked (or downgraded) by this connector, or None when it can."""
        return f"{self.kind} connectors cannot revoke yet"

    def is_present(self, grant: GrantTarget) -> bool | None:
        """Whether the grant still exists upstream (one cheap read), or None when this connector cannot tell.

        Called before re-sending a revocation whose worker died mid-call, so a delete is never sent twice.
        """
        return None

    def revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> RevocationResult:
        """Remove the grant (or lower it to ``downgrade_to``) where it is made, then re-read to verify.

        Returns revoked, already_absent (nothing to do: verified absent) or failed with the upstream's
        message; raises Unsupported for what cannot_revoke() refuses.
        """
        raise Unsupported(self.cannot_revoke(grant, downgrade_to=downgrade_to) or "revocation is not supported")
