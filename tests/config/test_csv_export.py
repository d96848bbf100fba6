"""config.csv_export: no cell of a CSV the platform writes is a formula to a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest

from config.csv_export import SafeCSVWriter, spreadsheet_safe


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1", "'+1"),
        ("-x", "'-x"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("alice", "alice"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_strings_a_spreadsheet_would_run_get_a_quote(value: str, written: str) -> None:
    assert spreadsheet_safe(value) == written


@pytest.mark.parametrize("number", [-0.5, -3, 0.0, 1e-300])
def test_numbers_stay_numbers(number: float) -> None:
    assert spreadsheet_safe(number) == number


def test_the_writer_escapes_every_cell_and_keeps_numbers() -> None:
    buffer = io.StringIO()
    SafeCSVWriter(buffer).writerow(["=1+1", "-x", -0.5, 3, "ok"])
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == ["'=1+1", "'-x", "-0.5", "3", "ok"]
