"""The demo's HR roster, built from the same generated organizations the demo simulators serve.

An HR system knows people, not accounts, but it does know their addresses: the corporate email (which the
GitHub organization's SAML identity provider uses as NameID, and Harbor's LDAP users carry), their Docker ID
email, their GitLab email and their LDAP mail alias (Jenkins logs in with the LDAP uid). So most demo accounts
correlate, by different rules per system; a few stay orphans on purpose (GitHub members without a SAML identity,
outside collaborators, Docker Hub guests, the Jenkins admin), one person is a leaver, and one Jenkins uid is
claimed by two people (a conflict for the security role).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from importlib import import_module

DEPARTMENTS = ["Platform", "Payments", "Mobile", "Data", "Security", "Infrastructure", "Web", "Support"]
CEO = "casey.chief@example.com"
LEAVER_INDEX = 11
LEAVER_END_DATE = "2026-09-30"
JENKINS_ALIAS_DOMAIN = "ldap.example.com"
CONFLICT_UID = "user0005"


@dataclass
class Person:
    email: str
    name: str
    other_emails: list[str] = field(default_factory=list)
    manager: str = ""
    department: str = ""
    status: str = "active"
    end_date: str = ""


def generated_orgs(systems) -> dict[str, object]:
    """kind -> the organization each demo simulator serves, generated from the same arguments."""
    from connectors.simulators.__main__ import SIMULATORS, parser

    orgs = {}
    for system in systems:
        args = parser().parse_args([system.kind, *system.simulator_args])
        orgs[system.kind] = import_module(SIMULATORS[system.kind][1]).build(args).org  # built, never started
    return orgs


def _title(login: str) -> str:
    return " ".join(part.title() for part in login.replace(".", "-").split("-") if part)


def people(orgs: dict[str, object]) -> list[Person]:
    found: dict[str, Person] = {}
    by_name: dict[str, Person] = {}

    def add(email: str, name: str) -> Person:
        email = email.lower()
        if email not in found:
            found[email] = Person(email, name)
            by_name.setdefault(name.lower(), found[email])
        return found[email]

    github = orgs.get("github")
    if github is not None:
        for identity in github.external_identities:
            if identity.login and identity.login in github.members:
                add(identity.name_id, _title(identity.login))
    harbor = orgs.get("harbor")
    if harbor is not None:
        for user in harbor.users.values():
            if user.username != "admin" and user.email:
                add(user.email, user.realname or _title(user.username))
    dockerhub = orgs.get("dockerhub")
    if dockerhub is not None:
        for username in dockerhub.members:
            user = dockerhub.users[username]
            if user.is_guest or not user.email:
                continue  # outside the company: an orphan in the demo
            person = by_name.get(user.full_name.lower())
            if person is None:
                person = add(f"{user.full_name.lower().replace(' ', '.')}@example.com", user.full_name)
            if user.email.lower() != person.email:
                person.other_emails.append(user.email.lower())
    listed = list(found.values())
    gitlab = orgs.get("gitlab")
    if gitlab is not None:
        humans = [u for u in gitlab.users.values() if u.kind == "human" and u.username not in ("root", "auditor")]
        for index, user in enumerate(humans):
            if index < len(listed):
                listed[index].other_emails.append(user.email.lower())
            else:
                listed.append(add(user.email, user.name))
    jenkins = orgs.get("jenkins")
    if jenkins is not None:
        uids = sorted(u for u in jenkins.users if u != "admin")
        for index, uid in enumerate(uids[: len(listed)]):
            listed[index].other_emails.append(f"{uid}@{JENKINS_ALIAS_DOMAIN}")
        if CONFLICT_UID in uids:
            listed[-1].other_emails.append(f"{CONFLICT_UID}@contractors.example")
    return _organize(listed)


def _organize(listed: list[Person]) -> list[Person]:
    """A CEO, a head per department reporting to them, everyone else reporting to a head; one leaver."""
    ceo = Person(CEO, "Casey Chief", department="Executive")
    heads = listed[: len(DEPARTMENTS)]
    for head, department in zip(heads, DEPARTMENTS, strict=False):
        head.manager, head.department = ceo.email, department
    for index, person in enumerate(listed[len(heads) :]):
        head = heads[index % len(heads)]
        person.manager, person.department = head.email, head.department
    if len(listed) > LEAVER_INDEX:
        listed[LEAVER_INDEX].status, listed[LEAVER_INDEX].end_date = "leaver", LEAVER_END_DATE
    return [ceo, *listed]


def roster_csv(persons: list[Person]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name", "manager_email", "department", "status", "end_date", "other_emails"])
    for p in persons:
        writer.writerow([p.email, p.name, p.manager, p.department, p.status, p.end_date, ";".join(p.other_emails)])
    return out.getvalue()
