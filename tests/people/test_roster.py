"""The HR roster import: validation before any write, in-place updates with a change report, leavers."""

import json
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from connectors.models import Identity
from connectors.people import RosterError, import_roster
from reviews.models import AuditEvent

HEADER = "email,name,manager_email,department,status,end_date\n"
ORG = [
    "ceo@acme.example,Cleo Executive,,Board,active,",
    # Reports before their managers: the file need not be ordered.
    "Dev.One@ACME.example,Dev One,lead@acme.example,Engineering,active,",
    "lead@acme.example,Lee Lead,ceo@acme.example,Engineering,active,",
    "ops@acme.example,Olu Ops,lead@acme.example,Operations,active,",
]


def people():
    return {i.email: i for i in Identity.objects.select_related("manager")}


def test_import_creates_people_with_managers_given_after_their_reports(roster):
    report = roster(*ORG)

    found = people()
    assert sorted(report.added) == sorted(found)
    assert found["dev.one@acme.example"].manager.email == "lead@acme.example"
    assert found["lead@acme.example"].manager.email == "ceo@acme.example"
    assert found["ceo@acme.example"].manager is None
    assert found["ops@acme.example"].department == "Operations"
    assert {i.source for i in found.values()} == {"hr"}


def test_emails_are_lower_cased(roster):
    roster(*ORG)

    assert "dev.one@acme.example" in people()
    assert not Identity.objects.filter(email="Dev.One@ACME.example").exists()


def test_reimport_updates_in_place_and_reports_each_change(roster):
    roster(*ORG)
    ids = {e: i.pk for e, i in people().items()}

    report = roster(
        "ceo@acme.example,Cleo Executive,,Board,active,",
        "dev.one@acme.example,Dev One-Smith,ops@acme.example,Engineering,active,",
        "lead@acme.example,Lee Lead,ceo@acme.example,Platform,active,",
        "ops@acme.example,Olu Ops,lead@acme.example,Operations,leaver,2026-10-31",
        "new@acme.example,New Hire,lead@acme.example,Platform,active,",
    )

    assert report.added == ["new@acme.example"]
    assert dict(report.updated) == {
        "dev.one@acme.example": ["name", "manager"],
        "lead@acme.example": ["department"],
    }
    assert report.leavers == ["ops@acme.example"]
    assert report.unchanged == 1
    found = people()
    assert {e: found[e].pk for e in ids} == ids  # updated in place, never re-created
    assert found["ops@acme.example"].status == "leaver"
    assert found["ops@acme.example"].end_date == date(2026, 10, 31)
    assert found["dev.one@acme.example"].manager.email == "ops@acme.example"
    lines = report.lines()
    assert "updated dev.one@acme.example: name, manager" in lines
    assert "marked leaver ops@acme.example" in lines
    assert lines[-1] == "1 added, 2 updated, 1 marked leaver, 0 reactivated, 1 unchanged"


def test_full_import_marks_missing_people_leavers_and_never_deletes(roster):
    roster(*ORG)

    report = roster(*ORG[:3], today=date(2026, 11, 1))

    ops = Identity.objects.get(email="ops@acme.example")
    assert report.leavers == ["ops@acme.example"]
    assert ops.status == "leaver"
    assert ops.end_date == date(2026, 11, 1)
    assert Identity.objects.count() == 4


def test_a_leaver_keeps_an_end_date_already_set(roster):
    roster(*ORG[:3], "ops@acme.example,Olu Ops,lead@acme.example,Operations,active,2026-12-31")

    roster(*ORG[:3], today=date(2026, 11, 1))

    assert Identity.objects.get(email="ops@acme.example").end_date == date(2026, 12, 31)


def test_partial_import_only_adds_and_updates(roster):
    roster(*ORG)

    report = roster("new@acme.example,New Hire,lead@acme.example,Platform,active,", partial=True)

    assert report.added == ["new@acme.example"]
    assert report.leavers == []
    assert set(Identity.objects.values_list("status", flat=True)) == {"active"}
    assert Identity.objects.get(email="new@acme.example").manager.email == "lead@acme.example"


def test_a_leaver_back_in_the_file_is_reactivated(roster):
    roster(*ORG)
    roster(*ORG[:3])

    report = roster(*ORG)

    assert report.reactivated == ["ops@acme.example"]
    ops = Identity.objects.get(email="ops@acme.example")
    assert (ops.status, ops.end_date) == ("active", None)


def test_people_added_by_hand_are_not_roster_leavers(roster):
    Identity.objects.create(email="contractor@partner.example", source="manual")

    roster(*ORG)

    assert Identity.objects.get(email="contractor@partner.example").status == "active"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("bad-email,X,,,active,", "line 3: email 'bad-email' is not an email address"),
        ("x@acme.example,X,,,retired,", "line 3: status 'retired' is not active or leaver"),
        ("x@acme.example,X,,,leaver,31/12/2026", "line 3: end_date '31/12/2026' is not a date"),
        ("x@acme.example,X,nobody@acme.example,,active,", "line 3: manager nobody@acme.example is not in the file"),
        ("x@acme.example,X,,,active", "line 3: 5 fields, the header has 6"),
        ("CEO@acme.example,Again,,,active,", "line 3: ceo@acme.example is already on line 2"),
    ],
)
def test_one_bad_row_names_its_line_and_nothing_is_written(db, row, message):
    text = HEADER + ORG[0] + "\n" + row + "\n" + ORG[2] + "\n"

    with pytest.raises(RosterError) as raised:
        import_roster(text)

    assert message in str(raised.value)
    assert "nothing was changed" in str(raised.value)
    assert not Identity.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_bad_row_in_a_reimport_leaves_everyone_as_they_were(roster):
    roster(*ORG)
    before = {i.email: (i.name, i.status, i.manager_id) for i in Identity.objects.all()}

    with pytest.raises(RosterError):
        roster(ORG[0], "dev.one@acme.example,Renamed,,Engineering,active,", "broken")

    assert {i.email: (i.name, i.status, i.manager_id) for i in Identity.objects.all()} == before


def test_manager_cycles_are_refused(roster):
    with pytest.raises(RosterError) as raised:
        roster(
            "a@acme.example,A,b@acme.example,,active,",
            "b@acme.example,B,c@acme.example,,active,",
            "c@acme.example,C,a@acme.example,,active,",
        )
    assert "manager cycle: a@acme.example -> b@acme.example -> c@acme.example -> a@acme.example" in str(raised.value)

    with pytest.raises(RosterError, match="line 2: manager cycle: self@acme.example -> self@acme.example"):
        roster("self@acme.example,Me,self@acme.example,,active,")
    assert not Identity.objects.exists()


def test_a_partial_import_may_not_close_a_cycle_through_existing_people(roster):
    roster(*ORG)

    with pytest.raises(RosterError, match="manager cycle"):
        roster("ceo@acme.example,Cleo Executive,dev.one@acme.example,Board,active,", partial=True)


def test_header_is_required_and_checked(db):
    with pytest.raises(RosterError, match="line 1: bad header \\(missing manager_email"):
        import_roster("email,name,department,status,end_date\nx@acme.example,X,,active,\n")
    with pytest.raises(RosterError, match="line 1: bad header"):
        import_roster("x@acme.example,X,,,active,\n")
    with pytest.raises(RosterError, match="header line is required"):
        import_roster("")


def test_other_emails_are_kept_and_may_not_belong_to_someone_else(roster):
    roster("ann@acme.example,Ann,,,active,,ann.old@acme.example; ANN@gmail.example")

    assert Identity.objects.get().other_emails == ["ann.old@acme.example", "ann@gmail.example"]
    with pytest.raises(RosterError, match="ann@gmail.example is already an address of ann@acme.example"):
        roster(
            "ann@acme.example,Ann,,,active,,ann@gmail.example",
            "bob@acme.example,Bob,,,active,,ann@gmail.example",
            partial=True,
        )


def test_import_is_audited_in_one_event(roster):
    roster(*ORG)

    event = AuditEvent.objects.get(action="people.import")
    assert event.data["added"] == 4
    assert event.data["partial"] is False


def test_cli_import_prints_changes_and_json(db, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + "".join(row + "\n" for row in ORG))
    out = _call("import", str(path))
    assert "added ceo@acme.example" in out
    assert "4 added, 0 updated, 0 marked leaver, 0 reactivated, 0 unchanged" in out

    path.write_text(HEADER + "".join(row + "\n" for row in ORG[:3]))
    summary = json.loads(_call("import", str(path), "--format", "json"))
    assert summary["leavers"] == ["ops@acme.example"]
    assert summary["unchanged"] == 3
    assert summary["added"] == [] and summary["updated"] == []


def test_cli_import_of_a_bad_file_fails_with_the_line(db, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + ORG[0] + "\nnot-an-email,X,,,active,\n")

    with pytest.raises(CommandError, match="line 3: email 'not-an-email' is not an email address"):
        _call("import", str(path))
    with pytest.raises(CommandError, match="cannot read"):
        _call("import", str(tmp_path / "missing.csv"))
    assert not Identity.objects.exists()


def test_cli_list_and_show(roster):
    roster(*ORG)

    listed = json.loads(_call("list", "--format", "json"))
    assert len(listed) == 4
    lead = next(p for p in listed if p["email"] == "lead@acme.example")
    assert lead == {
        "email": "lead@acme.example",
        "name": "Lee Lead",
        "manager": "ceo@acme.example",
        "department": "Engineering",
        "status": "active",
        "end_date": None,
        "source": "hr",
        "accounts": 0,
    }
    shown = json.loads(_call("show", "LEAD@acme.example", "--format", "json"))
    assert sorted(shown["reports"]) == ["dev.one@acme.example", "ops@acme.example"]
    with pytest.raises(CommandError, match="no person"):
        _call("show", "nobody@acme.example")


def _call(*args) -> str:
    import io

    out = io.StringIO()
    call_command("people", *args, stdout=out)
    return out.getvalue()
