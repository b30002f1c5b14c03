"""The campaign bench (`make bench`): launch a campaign over 100,000 grants, then time reviewers' decisions.

Issue "campaigns": launching over 100,000 grants takes < 30 s and a decision's round trip < 50 ms server time
on PostgreSQL. The inventory is generated and synced in-process through the real engine (a Replay provider:
no HTTP, the syncs are benched elsewhere), the people are a roster of one manager per ten accounts, and each
figure is reported with a baseline measured in the same run: the launch against a bare bulk insert of the same
number of items, a decision against a one-row UPDATE in its own transaction.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from connectors import bench
from connectors.base import AccountRecord, GrantRecord, ResourceRecord
from connectors.choices import GrantKind, Level
from connectors.models import Connector, Identity
from connectors.replay import Replay
from connectors.sync import run_sync
from pipeaccess.roles import REVIEWER, create_user

from . import campaigns, decisions
from .choices import ItemState
from .models import Campaign, CampaignTemplate, ReviewItem

PREFIX = "bench-campaign"
DOMAIN = "bench-campaign.test"
MAX_LAUNCH_SECONDS = 30.0
MAX_DECISION_MS = 50.0
LAUNCH = "campaign launch over the grants"
DECISION = "decision round trip, p95"


@dataclass(frozen=True)
class Size:
    grants: int
    accounts: int
    repos: int
    decisions: int


CAMPAIGN = Size(grants=100_000, accounts=5_000, repos=2_000, decisions=200)
SMALL = Size(grants=10_000, accounts=500, repos=200, decisions=50)


def _records(size: Size):
    """An org, its repositories, accounts and direct grants: grants // accounts per account, spread over repos."""
    yield ResourceRecord("org", "organization", "bench")
    for r in range(size.repos):
        yield ResourceRecord(f"repo:{r}", "repository", f"bench/repo-{r}", parent_external_id="org")
    per_account = size.grants // size.accounts
    levels = [("pull", Level.READ), ("push", Level.WRITE), ("maintain", Level.WRITE), ("admin", Level.ADMIN)]
    for a in range(size.accounts):
        yield AccountRecord(f"user:{a}", f"user{a}", email=f"user{a}@{DOMAIN}", two_factor=a % 17 != 0)
        for g in range(per_account):
            name, level = levels[(a + g) % len(levels)]
            repo = (a * per_account + g) % size.repos
            yield GrantRecord(
                f"repo:{repo}", GrantKind.PERMISSION, name, level, "direct", account_external_id=f"user:{a}"
            )


def _wipe() -> None:
    CampaignTemplate.objects.filter(name__startswith=PREFIX).delete()
    bench.wipe_bench_connectors(PREFIX)
    Identity.objects.filter(email__endswith=f"@{DOMAIN}").delete()
    get_user_model().objects.filter(email__endswith=f"@{DOMAIN}").delete()


def _people(size: Size) -> list[Identity]:
    """One manager per ten accounts; accounts correlate to their person by email after the sync."""
    managers = Identity.objects.bulk_create(
        [Identity(email=f"manager{m}@{DOMAIN}", name=f"Manager {m}") for m in range(size.accounts // 10)]
    )
    Identity.objects.bulk_create(
        [
            Identity(email=f"user{a}@{DOMAIN}", name=f"User {a}", manager=managers[a % len(managers)])
            for a in range(size.accounts)
        ],
        batch_size=2000,
    )
    return managers


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _bare_insert_seconds(campaign) -> float:
    """The floor for the launch: the same item rows written by the same COPY, with no scope query or routing."""
    fields = [f.attname for f in ReviewItem._meta.concrete_fields if f.column != "id"]
    items = list(campaign.items.values(*fields))
    with transaction.atomic():
        scratch = Campaign.objects.create(
            name="bare insert", config={}, launched_at=campaign.launched_at, due_at=campaign.due_at
        )
        for item in items:
            item["campaign_id"] = scratch.pk
        _, seconds = _timed(lambda: campaigns.insert_items(items))
        transaction.set_rollback(True)
    return seconds


def _update_ms(samples: int) -> list[float]:
    """The floor for a decision: one indexed single-row UPDATE in its own transaction."""
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE reviews_campaigntemplate SET updated = updated WHERE name = %s", [PREFIX])
        times.append((time.perf_counter() - start) * 1000)
    return times


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def run(size: Size, *, workdir: Path | None = None, say: Callable[[str], None] = lambda line: None) -> dict:
    _wipe()
    say(f"generating {size.grants:,} grants for {size.accounts:,} accounts on {size.repos:,} repositories")
    managers = _people(size)
    connector = Connector.objects.create(
        name=PREFIX, kind="github", base_url="https://bench.invalid", options={"org": "bench"}
    )
    run_, sync_seconds = _timed(lambda: run_sync(connector, connector_factory=lambda c: Replay(_records(size))))
    if run_.status != "succeeded":
        raise bench.BenchError(f"the bench sync {run_.status}: {run_.error}")
    say(f"synced in {sync_seconds:.1f} s (with correlation and risk); launching")
    template = campaigns.apply_templates(
        [
            {
                "name": f"{PREFIX}-all",
                "scope": {"connectors": [PREFIX]},
                "reviewers": ["manager", {"fallback": managers[0].email}],
                "max_sync_age": "24h",
            }
        ]
    )[0]
    campaign, launch_seconds = _timed(lambda: campaigns.launch(template))
    items = campaign.items.count()
    floor_seconds = _bare_insert_seconds(campaign)
    say(f"launched {items:,} items in {launch_seconds:.1f} s; timing {size.decisions} decisions")

    reviewer = managers[1]
    user = create_user(reviewer.email, roles=[REVIEWER], password=None)
    mine = list(campaign.items.filter(reviewer=reviewer, state=ItemState.PENDING).order_by("pk")[: size.decisions])
    decision_ms = []
    for i, item in enumerate(mine):
        verdict = "approve" if i % 3 else "revoke"
        start = time.perf_counter()
        decisions.decide(item, actor=user, decision=verdict, justification="bench", version=item.version)
        decision_ms.append((time.perf_counter() - start) * 1000)
    update_ms = _update_ms(len(decision_ms))
    p50, p95 = _p(decision_ms, 50), _p(decision_ms, 95)
    campaign.refresh_from_db()
    report = {
        "generated_at": bench.generated_at(),
        "environment": {"database": bench.database_label()},
        "instance": asdict(size) | {"items": items, "reviewers": campaign.reviewers.count()},
        "sync_seconds": round(sync_seconds, 2),
        "launch": {
            "seconds": round(launch_seconds, 2),
            "items_per_second": round(items / launch_seconds),
            "bare_insert_seconds": round(floor_seconds, 2),
            "ratio_to_bare_insert": round(launch_seconds / floor_seconds, 2),
        },
        "decision": {
            "samples": len(decision_ms),
            "p50_ms": round(p50, 2),
            "p95_ms": round(p95, 2),
            "max_ms": round(max(decision_ms), 2),
            "baseline_update_p50_ms": round(_p(update_ms, 50), 3),
            "ratio_p50_to_update": round(p50 / _p(update_ms, 50), 1),
        },
    }
    report["targets"] = [
        bench.target(
            LAUNCH, report["launch"]["seconds"], f"< {MAX_LAUNCH_SECONDS:.0f} s", launch_seconds < MAX_LAUNCH_SECONDS
        ),
        bench.target(DECISION, report["decision"]["p95_ms"], f"< {MAX_DECISION_MS:.0f} ms", p95 < MAX_DECISION_MS),
    ]
    CampaignTemplate.objects.filter(pk=template.pk).update(next_launch_at=timezone.now() + timedelta(days=3650))
    return report


def render(report: dict) -> str:
    launch, decision, instance = report["launch"], report["decision"], report["instance"]
    rows = [
        ("inventory synced (in-process)", f"{report['sync_seconds']:.1f} s", None, "Replay provider, hooks included"),
        ("campaign launch", f"{launch['seconds']:.2f} s", LAUNCH, ""),
        ("  items", f"{instance['items']:,}", None, f"{instance['reviewers']:,} reviewers"),
        ("  items/s", f"{launch['items_per_second']:,}", None, ""),
        ("  COPY of the same item rows", f"{launch['bare_insert_seconds']:.2f} s", None, "no scope query, no routing"),
        ("  launch / COPY", f"{launch['ratio_to_bare_insert']:.2f}", None, "what reading and routing add"),
        ("decision round trip p50", f"{decision['p50_ms']:.1f} ms", None, f"{decision['samples']} decisions"),
        ("decision round trip p95", f"{decision['p95_ms']:.1f} ms", DECISION, ""),
        ("  one-row UPDATE p50 (baseline)", f"{decision['baseline_update_p50_ms']:.2f} ms", None, ""),
        ("  decision p50 / UPDATE p50", f"{decision['ratio_p50_to_update']:.1f}", None, "lock, checks, history, audit"),
    ]
    heading = [f"Campaign bench, {report['generated_at']}", f"database: {report['environment']['database']}", ""]
    return "\n".join([*heading, *bench.table(rows, report["targets"])])
