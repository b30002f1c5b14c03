"""CSV exports of hostile values open as text: formula prefixes neutralized, RFC 4180 quoting, CRLF line ends."""

import csv
import io

import pytest

from connectors.export import csv_safe
from reviews import reports

HOSTILE = [
    ("=1+1", "'=1+1"),
    ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ('say "hi", then leave', 'say "hi", then leave'),
    ("line one\nline two", "line one\nline two"),
    ("\u202eexe.txt \u05e9\u05dc\u05d5\u05dd", "\u202eexe.txt \u05e9\u05dc\u05d5\u05dd"),
    ("a=b", "a=b"),
    ("", ""),
]


@pytest.mark.parametrize(("value", "expected"), HOSTILE)
def test_a_cell_starting_with_a_formula_character_is_prefixed_with_a_quote(value, expected):
    assert csv_safe(value) == expected


def test_hostile_values_parse_back_to_the_neutralized_text():
    rows = [{"name": value, "n": i} for i, (value, _) in enumerate(HOSTILE)]
    text = reports.csv_text(["name", "n"], rows)
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == ["name", "n"]
    assert [row[0] for row in parsed[1:]] == [expected for _, expected in HOSTILE]
    # No parsed cell starts with a formula character.
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for row in parsed for cell in row)


def test_quoting_is_rfc_4180_with_crlf_line_ends():
    text = reports.csv_text(["a", "b"], [{"a": 'x "y", z', "b": "plain"}, {"a": "two\nlines", "b": None}])
    assert text == 'a,b\r\n"x ""y"", z",plain\r\n"two\nlines",\r\n'


def test_lists_and_booleans_become_plain_text_cells():
    text = reports.csv_text(["risk", "flag"], [{"risk": ["orphan", "-privileged"], "flag": True}])
    assert text.splitlines()[1] == "orphan;-privileged,true"
    # A list whose first element is hostile is neutralized as one cell.
    assert reports.csv_text(["risk"], [{"risk": ["=cmd", "x"]}]).splitlines()[1] == "'=cmd;x"
