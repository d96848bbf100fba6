"""Ordering results by the default composite, with missing values never ranking above.

A result is complete when every metric of `METRICS` is a finite number. Complete results come
first, by composite (lower is better); then incomplete ones that still have a finite composite,
by composite; then those without one. Ties keep the order given (the caller passes results
oldest first, so the earlier submission wins a tie). The leaderboard's other ranking rules
build on the same rule; they live in the leaderboard app.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypeVar

from scoring.engine.metrics import METRICS, is_number

Scores = Mapping[str, object]
Result = TypeVar("Result", bound=Scores)


def composite_sort_key(scores: Scores) -> tuple[int, float]:
    """(0 if complete else 1, composite or +inf): sorting by it puts the best result first."""
    complete = all(is_number(scores.get(name)) for name in METRICS)
    value = scores.get("composite")
    return (0 if complete else 1, float(value) if is_number(value) else math.inf)


def rank_by_composite(results: Sequence[Result]) -> list[Result]:
    """The results best first; a stable sort, so ties keep their given order."""
    return sorted(results, key=composite_sort_key)
