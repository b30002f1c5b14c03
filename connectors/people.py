"""The HR roster: people, their managers and employment status, imported from CSV.

    email,name,manager_email,department,status,end_date[,other_emails]

A header line is required; ``status`` is active or leaver (empty: active); ``end_date`` is YYYY-MM-DD or
empty; ``other_emails`` (optional column) lists further addresses of the person separated by ``;``. Every
row is checked before anything is written: one bad row (with its line number) and the import writes nothing.
Managers may appear after their reports; a manager must be in the file (or, for a partial import, already
known); cycles are refused. A full import marks every roster person missing from the file a leaver (end
date today unless one is set) and never deletes anyone; a partial import only adds and updates.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from reviews.audit import record

from .choices import IdentityStatus
from .correlation import bulk_set
from .models import Connector, Identity

log = logging.getLogger(__name__)

COLUMNS = ("email", "name", "manager_email", "department", "status", "end_date")
OPTIONAL_COLUMNS = ("other_emails",)
FIELDS = ["name", "department", "status", "end_date", "other_emails", "manager", "updated"]
MAX_ERRORS = 20
BATCH = 1000


class RosterError(ValueError):
    """The file cannot be imported; ``errors`` holds one message per bad line."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        shown = errors[:MAX_ERRORS]
        more = f"\n… and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else ""
        super().__init__("roster not imported, nothing was changed:\n" + "\n".join(shown) + more)


@dataclass
class Person:
    line: int
    email: str
    name: str
    manager_email: str
    department: str
    status: str
    end_date: date | None
    other_emails: list[str]


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[tuple[str, list[str]]] = field(default_factory=list)
    leavers: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    unchanged: int = 0
    correlation: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "added": self.added,
            "updated": [{"email": email, "fields": fields} for email, fields in self.updated],
            "leavers": self.leavers,
            "reactivated": self.reactivated,
            "unchanged": self.unchanged,
            "correlation": self.correlation,
        }

    def lines(self) -> list[str]:
        out = [f"added {email}" for email in self.added]
        out += [f"updated {email}: {', '.join(fields)}" for email, fields in self.updated]
        out += [f"marked leaver {email}" for email in self.leavers]
        out += [f"reactivated {email}" for email in self.reactivated]
        out.append(
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.leavers)} marked leaver, "
            f"{len(self.reactivated)} reactivated, {self.unchanged} unchanged"
        )
        return out


def _email(value: str, what: str, line: int, errors: list[str]) -> str:
    value = (value or "").strip().lower()
    try:
        validate_email(value)
    except ValidationError:
        errors.append(f"line {line}: {what} {value!r} is not an email address")
        return ""
    return value


def parse(text: str) -> list[Person]:
    """Every row of a roster file, validated on its own; raises RosterError listing each bad line."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None:
        raise RosterError(["line 1: the file is empty; a header line is required: " + ",".join(COLUMNS)])
    header = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    unknown = [h for h in header if h not in COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown or len(set(header)) != len(header):
        problems = []
        if missing:
            problems.append("missing " + ", ".join(missing))
        if unknown:
            problems.append("unknown " + ", ".join(repr(u) for u in unknown))
        if len(set(header)) != len(header):
            problems.append("repeated columns")
        raise RosterError([f"line 1: bad header ({'; '.join(problems)}); expected: {','.join(COLUMNS)}"])
    errors: list[str] = []
    people: list[Person] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(header) > len(row) and all(h in OPTIONAL_COLUMNS for h in header[len(row) :]):
            row = row + [""] * (len(header) - len(row))  # trailing optional columns may be left out
        if len(row) != len(header):
            errors.append(f"line {line}: {len(row)} fields, the header has {len(header)}")
            continue
        values = dict(zip(header, (cell.strip() for cell in row), strict=True))
        email = _email(values["email"], "email", line, errors)
        manager = _email(values["manager_email"], "manager_email", line, errors) if values["manager_email"] else ""
        status = (values["status"] or IdentityStatus.ACTIVE).lower()
        if status not in IdentityStatus.values:
            errors.append(f"line {line}: status {values['status']!r} is not active or leaver")
        end_date = None
        if values["end_date"]:
            try:
                end_date = date.fromisoformat(values["end_date"])
            except ValueError:
                errors.append(f"line {line}: end_date {values['end_date']!r} is not a date (YYYY-MM-DD)")
        others = []
        for other in (values.get("other_emails") or "").split(";"):
            if other.strip():
                address = _email(other, "other email", line, errors)
                if address and address != email and address not in others:
                    others.append(address)
        if len(values["name"]) > Identity._meta.get_field("name").max_length:
            errors.append(f"line {line}: name is longer than 200 characters")
        if len(values["department"]) > Identity._meta.get_field("department").max_length:
            errors.append(f"line {line}: department is longer than 200 characters")
        if email and email in seen:
            errors.append(f"line {line}: {email} is already on line {seen[email]}")
        elif email:
            seen[email] = line
        people.append(Person(line, email, values["name"], manager, values["department"], status, end_date, others))
    if errors:
        raise RosterError(errors)
    return people


def _check_relations(people: list[Person], existing: dict[str, Identity], *, partial: bool) -> None:
    """Managers exist, nobody manages themselves through a chain, and an address belongs to one person."""
    errors: list[str] = []
    in_file = {p.email: p for p in people}
    managers: dict[str, str] = {}
    if partial:
        by_id = {i.pk: i.email for i in existing.values()}
        managers = {i.email: by_id.get(i.manager_id, "") for i in existing.values() if i.manager_id}
    for person in people:
        if person.manager_email and person.manager_email not in in_file:
            if not partial or person.manager_email not in existing:
                where = "in the file" if not partial else "in the file or already known"
                errors.append(f"line {person.line}: manager {person.manager_email} is not {where}")
                continue
        managers[person.email] = person.manager_email
    for person in people:
        chain, current = [person.email], managers.get(person.email)
        while current:
            if current == person.email:
                errors.append(f"line {person.line}: manager cycle: {' -> '.join([*chain, current])}")
                break
            if current in chain:
                break  # a cycle elsewhere, reported on its own line
            chain.append(current)
            current = managers.get(current)
    owner_of: dict[str, str] = {}
    for identity in existing.values():
        if identity.email not in in_file:
            for address in identity.all_emails():
                owner_of.setdefault(address.lower(), identity.email)
    for person in people:
        for address in [person.email, *person.other_emails]:
            holder = owner_of.setdefault(address, person.email)
            if holder != person.email:
                errors.append(f"line {person.line}: {address} is already an address of {holder}")
    if errors:
        raise RosterError(errors)


def import_roster(
    text: str, *, partial: bool = False, actor=None, actor_label: str | None = None, today: date | None = None
) -> ImportReport:
    """Add and update people from a roster file; a full import marks the roster people not in it as leavers.

    Correlation, owners and risk follow (people changed, so links and signals may have too).
    """
    people = parse(text)
    today = today or timezone.localdate()
    report = ImportReport()
    with transaction.atomic():
        existing = {i.email: i for i in Identity.objects.select_for_update()}
        _check_relations(people, existing, partial=partial)
        created: list[Identity] = []
        for person in people:
            if person.email not in existing:
                identity = Identity(email=person.email, source="hr")
                _apply(identity, person)
                created.append(identity)
                report.added.append(person.email)
        Identity.objects.bulk_create(created, batch_size=BATCH)
        added = set(report.added)
        by_email = {i.email: i for i in Identity.objects.all()}
        changed: dict[int, Identity] = {}
        for person in people:
            identity = by_email[person.email]
            manager = by_email.get(person.manager_email) if person.manager_email else None
            fields = _apply(identity, person, manager=manager)
            if person.email in added:
                if fields:
                    changed[identity.pk] = identity
                continue
            if fields:
                changed[identity.pk] = identity
                was = existing[person.email]
                if "status" in fields and person.status == IdentityStatus.LEAVER:
                    report.leavers.append(person.email)
                    fields = [f for f in fields if f not in ("status", "end_date")]
                elif "status" in fields and was.status == IdentityStatus.LEAVER:
                    report.reactivated.append(person.email)
                    fields = [f for f in fields if f not in ("status", "end_date")]
                if fields:
                    report.updated.append((person.email, fields))
            else:
                report.unchanged += 1
        if not partial:
            listed = {p.email for p in people}
            for email, identity in sorted(existing.items()):
                if email in listed or identity.source != "hr" or identity.status == IdentityStatus.LEAVER:
                    continue
                identity.status = IdentityStatus.LEAVER
                identity.end_date = identity.end_date or today
                identity.updated = timezone.now()
                changed[identity.pk] = identity
                report.leavers.append(email)
        bulk_set(Identity, list(changed.values()), FIELDS)
        record(
            "people.import",
            actor=actor,
            actor_label=actor_label,
            partial=partial,
            rows=len(people),
            added=len(report.added),
            updated=len(report.updated),
            leavers=report.leavers[:1000],
            reactivated=report.reactivated[:1000],
        )
    report.correlation = refresh_after_people_change()
    return report


def _apply(identity: Identity, person: Person, *, manager: Identity | None = None) -> list[str]:
    """Copy the row onto the identity; returns the names of the fields that changed."""
    wanted = {
        "name": person.name,
        "department": person.department,
        "status": person.status,
        "end_date": person.end_date,
        "other_emails": person.other_emails,
    }
    if person.status == IdentityStatus.LEAVER and wanted["end_date"] is None:
        wanted["end_date"] = identity.end_date or timezone.localdate()
    changed = [name for name, value in wanted.items() if getattr(identity, name) != value]
    for name in changed:
        setattr(identity, name, wanted[name])
    manager_id = manager.pk if manager is not None else None
    if identity.pk is not None and identity.manager_id != manager_id:
        identity.manager_id = manager_id
        changed.append("manager")
    if changed:
        identity.updated = timezone.now()
    return changed


def refresh_after_people_change() -> dict:
    """Re-correlate every account, re-assign owners and refresh risk: leavers and orphans change with the roster."""
    from . import correlation, owners, risk

    counts = correlation.correlate(None)
    for connector in Connector.objects.all():
        with transaction.atomic():
            owners.assign(connector)
        risk.refresh(connector)
    return counts


def create_person(email: str, *, name: str = "", actor=None, reason: str = "") -> Identity:
    """One person added by hand (source manual): not part of the roster, so a full import leaves them alone."""
    errors: list[str] = []
    email = _email(email, "email", 0, errors)
    if errors:
        raise RosterError([errors[0].replace("line 0: ", "")])
    with transaction.atomic():
        if Identity.objects.filter(email=email).exists():
            raise RosterError([f"{email} already exists"])
        identity = Identity.objects.create(email=email, name=name, source="manual")
        record("person.create", actor=actor, obj=identity, email=email, reason=reason)
    return identity
