"""The evidence package of a closed campaign: one zip an auditor can check offline.

Contents: report.pdf, report.csv, decisions.csv, revocations.csv, audit-events.jsonl (every audit event of
the campaign), chain.json (their sequence range, the chain head at export and the latest signed checkpoint),
README.txt and MANIFEST.sha256 (`sha256sum` format, one line per other file).

Verifying needs only the Python standard library, so this module imports Django lazily:

    python -m reviews.evidence verify FILE.zip      (or: manage.py report verify-evidence FILE.zip)
    unzip FILE.zip -d evidence && cd evidence && sha256sum -c MANIFEST.sha256

The offline check proves the files are the ones exported together and that the exported events link into
one chain; it cannot recompute each event's HMAC, which needs the server's audit key (`manage.py audit verify`).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "MANIFEST.sha256"
FILES = (
    "README.txt",
    "report.pdf",
    "report.csv",
    "decisions.csv",
    "revocations.csv",
    "audit-events.jsonl",
    "chain.json",
)
_MANIFEST_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")


class EvidenceError(Exception):
    """The package cannot be made (the campaign is not closed): a message for the user."""


# --- building (Django) ----------------------------------------------------------------------------


README = """\
PipeAccess evidence package
===========================

Campaign #{id}: {name}
State: {state}; launched {launched_at}; closed {closed_at}
Exported {exported_at} by {actor}

Files
-----
report.pdf          The campaign report: scope, reviewers, completion over time, exceptions, revocations
                    and their verification, decisions (the PDF lists at most {pdf_max} decisions; the CSVs
                    list every one).
report.csv          One row per review item: the decision, its revocation and verification, exceptions.
decisions.csv       Every item with its verdict, reviewer, time, justification, carried_forward, timed_out.
revocations.csv     Every revocation with its state, outcome, error and verification (verified_at,
                    verified_run: the sync run that showed the access gone).
audit-events.jsonl  Every audit event of the campaign, one JSON object per line, oldest first: seq, created,
                    actor, action, object, data, prev_hash, hash.
chain.json          The events' sequence range, the audit chain head (seq, hash) at export time and the
                    latest signed checkpoint of the chain, if any.
MANIFEST.sha256     The SHA-256 of every other file.

How to verify
-------------
1. Integrity of the files (any Unix):

       unzip {zipname} -d evidence && cd evidence && sha256sum -c MANIFEST.sha256

   Every line must say OK, and no file may be present that the manifest does not list.

2. The package as a whole, with PipeAccess's verifier (Python 3 standard library only, no database):

       python -m reviews.evidence verify {zipname}
       # or, on a PipeAccess server: python manage.py report verify-evidence {zipname}

   It checks the manifest (no file missing, changed or added), that in audit-events.jsonl each event's
   prev_hash equals the hash of the event before it wherever their sequence numbers are consecutive (other
   events, of other campaigns, sit in between elsewhere), and that the last event and the chain head match
   chain.json. It prints OK or the first problem.

3. Authenticity of each event: each hash is an HMAC-SHA256 over the event's content and prev_hash with a
   key kept outside the database, so only the server can recompute it. On the PipeAccess server run

       python manage.py audit verify

   which walks the whole chain and compares it with the signed checkpoints; then check that the hashes in
   audit-events.jsonl and the head in chain.json are the ones the server holds (`manage.py audit export`).
"""


def _dump(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _latest_checkpoint() -> dict | None:
    from django.conf import settings

    from . import audit

    found = list(audit._read_checkpoints(Path(settings.AUDIT_CHECKPOINT_DIR), audit.Report()))
    if not found:
        return None
    latest = max(found, key=lambda c: (c.seq, c.time))
    return {"seq": latest.seq, "hash": latest.hash, "time": latest.time, "where": latest.where}


def campaign_events(campaign):
    """The audit events of a campaign: recorded with it (every campaign, decision, revocation and mail event is)."""
    from django.db.models import Q

    from .models import AuditEvent

    return AuditEvent.objects.filter(
        Q(campaign_id=campaign.pk) | Q(object_type="reviews.campaign", object_id=str(campaign.pk))
    ).order_by("seq")


def build(campaign, *, actor_label: str = "system", zipname: str = "evidence.zip") -> bytes:
    """The zip's bytes. Raises EvidenceError unless the campaign is closed."""
    from django.utils import timezone

    from . import audit, report_pdf, reports
    from .choices import CampaignState

    if campaign.state != CampaignState.CLOSED:
        raise EvidenceError(
            f"campaign {campaign.pk} is {campaign.state}: an evidence package is made for a closed campaign "
            f"only (close it with `manage.py campaign close {campaign.pk}`)"
        )
    exported_at = timezone.now()
    # The head first, then the events up to it: later events (of any campaign) do not slip in half-read.
    head_seq, head_hash = audit.head()
    events = list(audit.rows(campaign_events(campaign).filter(seq__lte=head_seq)))
    report = reports.campaign_report(campaign)
    runs: list[list[int]] = []
    for e in events:
        if runs and e["seq"] == runs[-1][1] + 1:
            runs[-1][1] = e["seq"]
        else:
            runs.append([e["seq"], e["seq"]])
    chain = {
        "campaign": campaign.pk,
        "exported_at": exported_at.isoformat(),
        "events": {
            "count": len(events),
            "first_seq": events[0]["seq"] if events else None,
            "last_seq": events[-1]["seq"] if events else None,
            "last_hash": events[-1]["hash"] if events else None,
            "runs": runs,
        },
        "head": {"seq": head_seq, "hash": head_hash},
        "checkpoint": _latest_checkpoint(),
        "hash_algorithm": "HMAC-SHA256(key, canonical JSON of the event incl. prev_hash); key held by the server",
    }
    status = report["campaign"]
    files = {
        "README.txt": README.format(
            id=campaign.pk,
            name=campaign.name,
            state=status["state"],
            launched_at=status["launched_at"],
            closed_at=status["closed_at"],
            exported_at=exported_at.isoformat(),
            actor=actor_label,
            pdf_max=report_pdf.PDF_MAX_DECISIONS,
            zipname=zipname,
        ).encode(),
        "report.pdf": report_pdf.campaign_pdf(report),
        "report.csv": reports.csv_text(reports.REPORT_FIELDS, reports.report_rows(report)).encode(),
        "decisions.csv": reports.csv_text(reports.DECISION_FIELDS, report["decisions"]).encode(),
        "revocations.csv": reports.csv_text(reports.REVOCATION_FIELDS, report["revocations"]).encode(),
        "audit-events.jsonl": "".join(_dump(e) + "\n" for e in events).encode(),
        "chain.json": (json.dumps(chain, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode(),
    }
    files[MANIFEST] = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files.items()).encode()
    stamp = exported_at.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buffer.getvalue()


def export(campaign, *, actor=None, actor_label: str | None = None, zipname: str = "evidence.zip") -> bytes:
    """build(), then the audit event that says who exported it (the package's SHA-256 with it)."""
    from django.db import transaction

    from . import audit

    label = actor_label or getattr(actor, "email", None) or "system"
    data = build(campaign, actor_label=label, zipname=zipname)
    with transaction.atomic():
        audit.record(
            "report.evidence_exported",
            actor=actor,
            actor_label=actor_label,
            obj=campaign,
            campaign=campaign,
            sha256=hashlib.sha256(data).hexdigest(),
            bytes=len(data),
        )
    return data


# --- verifying (standard library only) ------------------------------------------------------------


@dataclass
class Result:
    problems: list[str] = field(default_factory=list)
    files: int = 0
    events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        if self.ok:
            return f"OK: {self.files} files match the manifest; {self.events} audit events link into the chain head"
        return f"FAILED: {self.problems[0]}"


def verify(source) -> Result:
    """Check a package (a path or a file object); the first problem found is result.problems[0]."""
    result = Result()
    try:
        with zipfile.ZipFile(source) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                result.problems.append(f"the zip holds {duplicates[0]} more than once")
                return result
            if MANIFEST not in names:
                result.problems.append(f"{MANIFEST} is missing")
                return result
            contents = {name: zf.read(name) for name in names}
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:
        result.problems.append(f"not a readable zip file: {exc}")
        return result
    listed = _check_manifest(contents, result)
    if result.problems:
        return result
    result.files = len(listed)
    _check_chain(contents, result)
    return result


def _check_manifest(contents: dict[str, bytes], result: Result) -> dict[str, str]:
    listed: dict[str, str] = {}
    try:
        text = contents[MANIFEST].decode("utf-8")
    except UnicodeDecodeError:
        result.problems.append(f"{MANIFEST} is not UTF-8 text")
        return listed
    for number, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        match = _MANIFEST_LINE.fullmatch(line)
        if match is None:
            result.problems.append(f"{MANIFEST} line {number} is not '<sha256>  <file>'")
            return listed
        digest, name = match.groups()
        if name in listed:
            result.problems.append(f"{MANIFEST} lists {name} twice")
            return listed
        listed[name] = digest
    for name in FILES:
        if name not in listed:
            result.problems.append(f"{MANIFEST} does not list {name}")
            return listed
    for name, digest in listed.items():
        if name not in contents:
            result.problems.append(f"{name} is listed in {MANIFEST} but missing from the package")
            return listed
        if hashlib.sha256(contents[name]).hexdigest() != digest:
            result.problems.append(f"{name} was changed: its SHA-256 does not match {MANIFEST}")
            return listed
    extra = sorted(set(contents) - set(listed) - {MANIFEST})
    if extra:
        result.problems.append(f"{extra[0]} is not listed in {MANIFEST} (a file was added)")
    return listed


def _check_chain(contents: dict[str, bytes], result: Result) -> None:
    try:
        chain = json.loads(contents["chain.json"])
        expected = chain["events"]
        head = chain["head"]
    except (ValueError, KeyError, TypeError):
        result.problems.append("chain.json is not the chain summary (events, head)")
        return
    previous = None
    for number, line in enumerate(contents["audit-events.jsonl"].decode("utf-8", "replace").splitlines(), 1):
        try:
            event = json.loads(line)
            seq, prev_hash, hash_ = int(event["seq"]), str(event["prev_hash"]), str(event["hash"])
        except (ValueError, KeyError, TypeError):
            result.problems.append(f"audit-events.jsonl line {number} is not an audit event")
            return
        if previous is not None:
            if seq <= previous[0]:
                result.problems.append(
                    f"audit-events.jsonl line {number}: event #{seq} comes after #{previous[0]} (out of order)"
                )
                return
            if seq == previous[0] + 1 and prev_hash != previous[1]:
                result.problems.append(
                    f"audit-events.jsonl line {number}: event #{seq}'s prev_hash is not the hash of event "
                    f"#{previous[0]} (the chain is broken)"
                )
                return
        previous = (seq, hash_)
        result.events += 1
        if head.get("seq") == seq and head.get("hash") != hash_:
            result.problems.append(f"event #{seq} is the chain head in chain.json but its hash differs")
            return
        checkpoint = chain.get("checkpoint") or {}
        if checkpoint.get("seq") == seq and checkpoint.get("hash") != hash_:
            result.problems.append(f"event #{seq} does not have the hash the signed checkpoint recorded")
            return
    if result.events != expected.get("count"):
        result.problems.append(
            f"audit-events.jsonl holds {result.events} events but chain.json says {expected.get('count')}"
        )
        return
    last_seq, last_hash = previous or (None, None)
    if last_seq != expected.get("last_seq") or last_hash != expected.get("last_hash"):
        result.problems.append(
            f"the last event in audit-events.jsonl (#{last_seq}) does not match chain.json "
            f"(#{expected.get('last_seq')} {str(expected.get('last_hash'))[:16]}…)"
        )
        return
    if last_seq is not None and head.get("seq") is not None and last_seq > head["seq"]:
        result.problems.append(f"event #{last_seq} is newer than the chain head #{head['seq']} in chain.json")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "verify":
        sys.stderr.write("usage: python -m reviews.evidence verify FILE.zip\n")
        return 2
    result = verify(argv[1])
    (sys.stdout if result.ok else sys.stderr).write(result.describe() + "\n")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
