"""The campaign report as a PDF (fpdf2): the same content as the page, for auditors who file documents.

Text is drawn literally (no markup), so synced names cannot inject anything. With the DejaVu fonts
installed (Debian: fonts-dejavu-core) every Unicode character is drawn; without them the PDF uses the
built-in Helvetica and characters outside Latin-1 become "?". The decision list is cut after
PDF_MAX_DECISIONS rows (the CSV files carry all of them) so a 100,000-item campaign still renders quickly.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings

PDF_MAX_DECISIONS = 2000
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


def _font_files() -> tuple[Path, Path] | None:
    configured = getattr(settings, "REPORT_PDF_FONT_DIR", "")
    for directory in ((Path(configured),) if configured else ()) + FONT_DIRS:
        regular, bold = directory / "DejaVuSans.ttf", directory / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            return regular, bold
    return None


class _Writer:
    def __init__(self, title: str):
        from fpdf import FPDF

        self.pdf = FPDF(orientation="L", unit="mm", format="A4")
        self.pdf.set_title(title)
        self.pdf.set_creator("PipeAccess")
        self.pdf.set_auto_page_break(auto=True, margin=12)
        self.pdf.set_margins(10, 10, 10)
        fonts = _font_files()
        if fonts:
            self.pdf.add_font("DejaVu", "", str(fonts[0]))
            self.pdf.add_font("DejaVu", "B", str(fonts[1]))
            self.family, self.unicode = "DejaVu", True
        else:
            self.family, self.unicode = "Helvetica", False
        self.pdf.add_page()

    def text(self, value) -> str:
        text = "" if value is None else str(value)
        if not self.unicode:
            text = text.encode("latin-1", "replace").decode("latin-1")
        return text

    def heading(self, text: str, size: int = 13) -> None:
        self.pdf.set_font(self.family, "B", size)
        self.pdf.multi_cell(0, 7, self.text(text), new_x="LMARGIN", new_y="NEXT", align="L")
        self.pdf.ln(1)

    def para(self, text: str) -> None:
        self.pdf.set_font(self.family, "", 9)
        self.pdf.multi_cell(0, 5, self.text(text), new_x="LMARGIN", new_y="NEXT", align="L")
        self.pdf.ln(1)

    def table(self, headers: list[str], rows: list[list], widths: tuple[int, ...]) -> None:
        self.pdf.set_font(self.family, "", 7)
        if not rows:
            self.para("None.")
            return
        with self.pdf.table(col_widths=widths, text_align="LEFT", line_height=4, first_row_as_headings=True) as t:
            head = t.row()
            for h in headers:
                head.cell(self.text(h))
            for r in rows:
                row = t.row()
                for value in r:
                    row.cell(self.text(_short(value)))
        self.pdf.ln(3)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _when(value: str | None) -> str:
    """2026-11-26T00:15:48.101126+00:00 -> 2026-11-26 00:15 (+00:00): minutes are enough on paper."""
    if not value:
        return ""
    text = str(value)
    return f"{text[:10]} {text[11:16]}" + (f" ({text[-6:]})" if text[-6] in "+-" and text[-6:] != "+00:00" else " UTC")


def _short(value, limit: int = 400) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def campaign_pdf(report: dict) -> bytes:
    c = report["campaign"]
    w = _Writer(f"Campaign report: {c['name']}")
    w.heading(f"Access review campaign report: {c['name']}", 16)
    items = c["items"]
    w.para(
        f"Campaign #{c['id']} (template {c.get('template') or '-'}), state {c['state']}. "
        f"Launched {_when(c['launched_at'])}, due {_when(c['due_at'])}, closed {_when(c.get('closed_at')) or '-'}. "
        f"Report generated {_when(report['generated_at'])}."
    )
    w.para(
        f"Items: {items['total']} total, {items['decided']} decided ({items['approved']} approved, "
        f"{items['revoked']} revoked, {items['downgraded']} downgraded), {items['pending']} pending, "
        f"{items.get('gone', 0)} gone before a decision, {items.get('timed_out', 0)} timed out, "
        f"{items.get('carried_forward', 0)} carried forward."
    )
    revs = c["revocations"]
    w.para("Revocations: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in revs.items()) + ".")

    w.heading("Scope")
    w.para(json.dumps(report["scope"], ensure_ascii=False, sort_keys=True, indent=1) if report["scope"] else "All.")
    config = report["config"]
    w.para(
        f"Reviewers: {json.dumps(config.get('reviewers', {}), ensure_ascii=False)}. "
        f"On timeout: {config.get('on_timeout', '-')}. Carry forward: {config.get('carry_forward', False)}."
    )

    w.heading("Reviewers")
    w.table(
        ["Reviewer", "Items", "Decided", "Approved", "Revoked", "Downgraded", "Pending", "Signed off"],
        [
            [
                r["reviewer"],
                r["total"],
                r["decided"],
                r["approved"],
                r["revoked"],
                r["downgraded"],
                r["pending"],
                _when(r["signed_off_at"]),
            ]
            for r in report["reviewers"]
        ],
        (70, 22, 22, 22, 22, 22, 22, 65),
    )

    w.heading("Completion over time")
    w.table(
        ["Day", "Decided that day", "Decided so far", "%"],
        [[d["day"], d["decided"], d["cumulative"], d["percent"]] for d in report["completion"]],
        (60, 50, 50, 30),
    )

    w.heading("Exceptions")
    w.table(
        ["Kind", "Item", "Holder", "Resource", "Permission", "Detail"],
        [
            [e["kind"], e["item"], e["holder"], e["resource"], e["permission"], e["detail"]]
            for e in report["exceptions"]
        ],
        (30, 15, 50, 70, 30, 82),
    )

    w.heading("Revocations and verification")
    w.table(
        ["#", "Item", "Action", "State", "Outcome", "Executed", "Verified", "Run", "Error"],
        [
            [
                r["revocation"],
                r["item"],
                r["action"],
                r["state"],
                r["outcome"],
                _when(r["executed_at"]),
                _when(r["verified_at"]),
                r["verified_run"],
                r["last_error"],
            ]
            for r in report["revocations"]
        ],
        (12, 14, 70, 22, 20, 35, 35, 12, 57),
    )

    decisions = report["decisions"]
    w.heading("Decisions")
    if len(decisions) > PDF_MAX_DECISIONS:
        w.para(f"The first {PDF_MAX_DECISIONS} of {len(decisions)} items; report.csv and decisions.csv list every one.")
    w.table(
        [
            "Item",
            "Holder",
            "Resource",
            "Permission",
            "Level",
            "Verdict",
            "Decided by",
            "Decided at",
            "Justification",
            "Flags",
        ],
        [
            [
                d["item"],
                d["holder"],
                d["resource"],
                d["permission"],
                d["level"],
                d["verdict"] + (f" to {d['downgrade_to']}" if d["downgrade_to"] else "") or d["state"],
                d["decided_by"],
                _when(d["decided_at"]),
                d["justification"],
                ", ".join(
                    f for f, on in (("timed out", d["timed_out"]), ("carried forward", d["carried_forward"])) if on
                ),
            ]
            for d in decisions[:PDF_MAX_DECISIONS]
        ],
        (12, 35, 50, 22, 13, 20, 35, 30, 42, 18),
    )
    return w.output()
