"""CSV files the platform writes, safe to open in a spreadsheet.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
formula by Excel and LibreOffice, so a participant named ``=HYPERLINK(...)`` could run one on
an organizer's machine (CSV injection). OWASP's rule: prefix such a cell with ``'``.

Every string cell is escaped, whoever wrote it: deciding which columns come from users is a
judgement each new column could get wrong. Numbers are written as numbers (never escaped), so
a metric of -0.5 stays a number; callers must therefore pass numbers, not their text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """The cell as written: a string that a spreadsheet would take for a formula gets a ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class SafeCSVWriter:
    """``csv.writer`` whose every cell goes through ``spreadsheet_safe``."""

    def __init__(self, stream: TextIO) -> None:
        self._writer = csv.writer(stream)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([spreadsheet_safe(value) for value in row])
