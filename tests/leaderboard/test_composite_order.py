"""Ordering by the default composite: a missing value never ranks above complete values."""

from __future__ import annotations

import datetime as dt
import math
import uuid

from leaderboard.ranking import COMPOSITE, Scored, place, ranking_rule_parse
from scoring.engine import METRICS

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _scores(name: str, composite: float | None, **overrides: float | None) -> dict[str, object]:
    scores: dict[str, object] = dict.fromkeys(METRICS, 1.0)
    scores.update(name=name, composite=composite, **overrides)
    return scores


def _names(results: list[dict[str, object]]) -> list[object]:
    """The names in the composite rule's order; the results were submitted in the given order."""
    rule = ranking_rule_parse(kind=COMPOSITE, spec="")
    scored = [
        Scored(
            submission_id=uuid.uuid5(uuid.NAMESPACE_OID, str(result["name"])),
            participant_id=index,
            submitted_at=T0 + dt.timedelta(minutes=index),
            scores=result,
        )
        for index, result in enumerate(results)
    ]
    names = {
        item.submission_id: result["name"] for item, result in zip(scored, results, strict=True)
    }
    return [names[placed.scored.submission_id] for placed in place(rule, scored)]


def test_lower_composite_ranks_first() -> None:
    assert _names([_scores("b", 2.0), _scores("a", 1.5), _scores("c", 3.0)]) == ["a", "b", "c"]


def test_missing_composite_never_ranks_above_a_complete_result() -> None:
    results = [_scores("missing", None), _scores("worst", 1e9), _scores("best", 1.0)]
    assert _names(results) == ["best", "worst", "missing"]


def test_non_finite_composite_ranks_as_missing() -> None:
    results = [_scores("nan", math.nan), _scores("inf", math.inf), _scores("complete", 50.0)]
    assert _names(results)[0] == "complete"


def test_missing_other_metric_ranks_below_complete_results_even_with_a_better_composite() -> None:
    results = [_scores("no judge fd", 1.0, judge_fd=None), _scores("complete", 2.0)]
    assert _names(results) == ["complete", "no judge fd"]


def test_incomplete_results_keep_their_composite_order_among_themselves() -> None:
    results = [
        _scores("none", None),
        _scores("nan fd, 3", 3.0, judge_fd=math.nan),
        _scores("no params, 2", 2.0, params=None),
    ]
    assert _names(results) == ["no params, 2", "nan fd, 3", "none"]


def test_ties_keep_the_given_order() -> None:
    assert _names([_scores("first", 1.0), _scores("second", 1.0)]) == ["first", "second"]
