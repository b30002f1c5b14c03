"""Who reviews an item: the template's strategies in order, never the person whose access it is.

People are loaded once per launch into a small directory (id -> email, manager, status), so routing
100,000 items costs no query per item.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.choices import IdentityStatus
from connectors.models import Identity


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    manager_id: int | None
    active: bool


class Directory:
    def __init__(self):
        self.by_id: dict[int, Person] = {}
        self.by_email: dict[str, Person] = {}
        for pk, email, manager_id, status in Identity.objects.values_list("pk", "email", "manager_id", "status"):
            person = Person(pk, email, manager_id, status == IdentityStatus.ACTIVE)
            self.by_id[pk] = person
            self.by_email[email.lower()] = person

    def active(self, pk: int | None) -> Person | None:
        person = self.by_id.get(pk) if pk else None
        return person if person and person.active else None


def route(
    strategies: list, fallback: str | None, people: Directory, *, subject_id, resource_owner_id, exclude=()
) -> tuple[int | None, str]:
    """(reviewer identity id, strategy that chose them); (None, "unassigned") when nobody qualifies.

    A candidate is skipped when it is the subject (nobody reviews their own access), a leaver, or in exclude
    (e.g. the first-stage reviewer of a second stage).
    """
    skip = {subject_id, *exclude}

    def ok(person: Person | None) -> bool:
        return person is not None and person.id not in skip

    for strategy in strategies:
        if strategy == "manager":
            subject = people.by_id.get(subject_id) if subject_id else None
            candidate = people.active(subject.manager_id) if subject else None
            if ok(candidate):
                return candidate.id, "manager"
        elif strategy == "resource_owner":
            candidate = people.active(resource_owner_id)
            if ok(candidate):
                return candidate.id, "resource_owner"
        else:
            for email in strategy["users"]:
                candidate = people.by_email.get(email)
                if ok(candidate) and candidate.active:
                    return candidate.id, "users"
    candidate = people.by_email.get(fallback) if fallback else None
    if ok(candidate) and candidate.active:
        return candidate.id, "fallback"
    return None, "unassigned"
