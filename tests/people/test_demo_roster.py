"""The demo roster: generated from the demo simulators' organizations, importable, with managers for everyone."""

from connectors.models import Identity
from connectors.people import import_roster
from pipeaccess.demo.roster import CONFLICT_UID, generated_orgs, people, roster_csv
from pipeaccess.management.commands.demo import DEMO_SYSTEMS


def test_demo_roster_imports_with_a_manager_for_everyone_one_leaver_and_one_ambiguous_uid(db):
    persons = people(generated_orgs(DEMO_SYSTEMS))

    report = import_roster(roster_csv(persons))

    assert len(report.added) == len(persons) == Identity.objects.count()
    assert Identity.objects.filter(manager__isnull=True).count() == 1  # the CEO
    assert Identity.objects.filter(status="leaver").count() == 1
    assert sum(1 for p in persons for e in p.other_emails if e.startswith(f"{CONFLICT_UID}@")) == 2
    # The GitHub SAML NameIDs, Harbor and Docker Hub emails are all someone's address.
    emails = {e for p in persons for e in [p.email, *p.other_emails]}
    github = generated_orgs([s for s in DEMO_SYSTEMS if s.kind == "github"])["github"]
    linked = [i.name_id.lower() for i in github.external_identities if i.login in github.members]
    assert linked and all(e in emails for e in linked)
