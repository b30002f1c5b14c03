"""`audit export` (JSON lines or formula-safe CSV) and the events() filters the audit page uses."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from connectors.models import Connector
from reviews import audit
from reviews.models import AuditEvent, Campaign
from tests.audit.helpers import run_command, write_events

pytestmark = pytest.mark.django_db

HOSTILE = ['=HYPERLINK("http://evil")', "+1+1", "-2", "@SUM(A1)", "\tx", "\rx", 'quote " and, comma']


def export(*args) -> str:
    code, out, err = run_command("export", *args)
    assert code == 0, err
    return out


@pytest.fixture
def connector():
    return Connector.objects.create(name="gh", kind="github", base_url="https://api.github.com")


def test_jsonl_export_has_every_event_oldest_first_with_its_hashes(security_user):
    write_events(3)
    with transaction.atomic():
        audit.record("connector.added", actor=security_user, name="gh")
    rows = [json.loads(line) for line in export().splitlines()]
    events = list(AuditEvent.objects.order_by("seq"))
    assert [r["seq"] for r in rows] == [e.seq for e in events]
    assert rows[-1]["actor"] == "alice@example.com" and rows[-1]["actor_id"] == security_user.pk
    assert rows[-1]["data"] == {"name": "gh"}
    assert [(r["prev_hash"], r["hash"]) for r in rows] == [(e.prev_hash, e.hash) for e in events]


def test_csv_export_neutralizes_formulas_in_every_cell(tmp_path):
    with transaction.atomic():
        for name in HOSTILE:
            audit.record("connector.added", actor_label=name, name=name)
    out = tmp_path / "audit.csv"
    export("--format", "csv", "--action", "connector.", "--output", str(out))
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["actor"] for r in rows] == [
        '\'=HYPERLINK("http://evil")',
        "'+1+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        'quote " and, comma',
    ]
    # The data column is JSON text, which starts with "{": never a formula; names inside stay as they were.
    assert json.loads(rows[1]["data"]) == {"name": "+1+1"}
    for row in rows:
        for value in row.values():
            assert not value or value[0] not in "=+-@\t\r"


def test_export_filters_by_action_prefix_since_and_actor(security_user, reviewer_user):
    with transaction.atomic():
        audit.record("sync.applied", run=1)
        audit.record("sync.failed", run=2)
        audit.record("connector.added", actor=security_user)
        audit.record("connector.removed", actor=reviewer_user)
    by_action = [json.loads(x)["action"] for x in export("--action", "sync.").splitlines()]
    assert by_action == ["sync.applied", "sync.failed"]
    by_alice = [json.loads(x)["action"] for x in export("--actor", "ALICE@example.com").splitlines()]
    assert by_alice == ["connector.added"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert export("--since", tomorrow) == ""


def test_export_rejects_a_date_it_cannot_read_with_exit_2():
    code, _, err = run_command("export", "--since", "last tuesday")
    assert code == 2
    assert "since 'last tuesday' is not an ISO 8601 date or date-time" in err


def test_events_filters_by_object_campaign_and_dates(connector, security_user):
    now = datetime.now(UTC)
    campaign = Campaign.objects.create(name="Q4", state="open", launched_at=now, due_at=now + timedelta(days=14))
    with transaction.atomic():
        audit.record("connector.added", obj=connector, actor=security_user)
        audit.record("campaign.launched", campaign=campaign)
        audit.record("test.other")
    early = datetime(2026, 1, 1, 10, tzinfo=UTC)
    AuditEvent.objects.filter(action="test.other").update(created=early)
    assert [e.action for e in audit.events({"object": connector})] == ["connector.added"]
    assert [e.action for e in audit.events({"object": f"connectors.connector:{connector.pk}"})] == ["connector.added"]
    assert [e.action for e in audit.events({"campaign": campaign.pk})] == ["campaign.launched"]
    assert [e.action for e in audit.events({"until": "2026-01-01"})] == ["test.other"]  # a bare date: the whole day
    assert [e.action for e in audit.events({"since": "2026-01-01", "until": "2026-01-01T09:00Z"})] == []
    since = [e.action for e in audit.events({"since": "2026-01-02"})]
    assert since == ["user.created", "connector.added", "campaign.launched"]  # the fixture's user came first
    assert [e.action for e in audit.events({"actor": security_user})] == ["connector.added"]
    assert audit.events({"action": "", "page": "3"}).count() == 4  # empty and unknown keys are ignored


@pytest.mark.parametrize(
    "filters,message",
    [
        ({"since": "yesterday"}, "since 'yesterday' is not an ISO 8601"),
        ({"until": "2026-13-45"}, "until '2026-13-45' is not an ISO 8601"),
        ({"object": "connector"}, "expected TYPE:ID"),
        ({"campaign": "q4"}, "expected a campaign id"),
    ],
)
def test_events_says_what_is_wrong_with_a_filter(filters, message):
    with pytest.raises(ValueError, match=message):
        audit.events(filters)


def test_export_streams_large_chains_in_pages(settings):
    write_events(25)
    rows = list(audit.rows(audit.events({"action": "test."})))
    assert [r["seq"] for r in rows] == list(range(1, 26))
    buf = io.StringIO()
    for r in audit.rows():
        buf.write(json.dumps(r))
    assert buf.getvalue().count('"seq"') == 25
