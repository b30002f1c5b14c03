"""Quay accounts as the connector assembles them: one Quay user is one account across lists and organizations.

A user may be an organization member, an outside collaborator, invited to a team, a default-permission
delegate, or all of these in different organizations; the record says active unless the user is only
invited (pending), and outside only when no configured organization has them as a member.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..base import AccountRecord, GrantRecord
from ..choices import AccountState, AccountType, Level
from .quay_roles import invite_id, user_id

ANONYMOUS = "pseudo:anonymous"


class Account:
    """One account being assembled from several lists (and organizations)."""

    def __init__(self, external_id: str, login: str, type: str = AccountType.HUMAN, email: str = ""):
        self.external_id, self.login, self.type, self.email = external_id, login, type, email
        self.member = self.outside = self.seen = False  # neither: only invited, so pending
        self.record: AccountRecord | None = None  # robots: what the robot list said

    def grant(self, resource: str, kind: str, permission: str, *, level: Level | None = None, via: str = "direct"):
        return GrantRecord(
            account_external_id=self.external_id,
            resource_external_id=resource,
            kind=kind,
            permission=permission,
            level=level if level is not None else Level.READ,
            via=via,
        )

    def to_record(self) -> AccountRecord:
        if self.record is not None:
            return self.record
        active = self.member or self.outside or self.seen or self.type != AccountType.HUMAN
        return AccountRecord(
            external_id=self.external_id,
            login=self.login,
            type=self.type,
            email=self.email,
            state=AccountState.ACTIVE if active else AccountState.PENDING,
            is_outside=self.outside and not self.member,
        )


class Accounts:
    """Accounts met in several lists and organizations, merged into one record each (yielded last)."""

    def __init__(self):
        self._by_id: dict[str, Account] = {}

    def _get(self, external_id: str, login: str, type: str = AccountType.HUMAN, email: str = "") -> Account:
        if external_id not in self._by_id:
            self._by_id[external_id] = Account(external_id, login, type, email)
        return self._by_id[external_id]

    def user(self, name: str, *, member: bool = False, outside: bool = False, invited: bool = False) -> Account:
        account = self._get(user_id(name), name)
        account.member |= member
        account.outside |= outside
        account.seen |= not (member or outside or invited)
        return account

    def robot(self, record: AccountRecord) -> Account:
        account = self._get(record.external_id, record.login, AccountType.ROBOT)
        account.record = record
        return account

    def robot_by_name(self, name: str) -> Account:
        """A robot met in a team or permission list; the robot list gives its details."""
        return self._get(user_id(name), name, AccountType.ROBOT)

    def invite(self, email: str) -> Account:
        return self._get(invite_id(email), email, AccountType.HUMAN, email)

    def anonymous(self) -> Account:
        return self._get(ANONYMOUS, "anonymous", AccountType.PSEUDO)

    def records(self) -> Iterator[AccountRecord]:
        for account in self._by_id.values():
            yield account.to_record()
