"""The ranking specification on hand-made results: every rule, ties, missing and non-finite
values, both directions, who represents a participant, baselines, the chart, the stored key."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import uuid

import pytest

from competitions.models import Phase
from leaderboard import ranking
from leaderboard.ranking import (
    AUTO,
    BASELINE,
    BEST,
    LATEST,
    SELECTED,
    RankingRuleError,
    Scored,
    board_compute,
    improvements,
    order_bytes,
    place,
    ranking_rule_parse,
)
from scoring.engine import METRICS

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
COMPOSITE = ranking_rule_parse(kind="composite", spec="")


# Every hand-made result's id, by the name the tests give it.
NAMES: dict[uuid.UUID, str] = {}


def result(
    name: str,
    *,
    minute: int = 0,
    participant: int | None = None,
    baseline: bool = False,
    selected: bool = False,
    **scores: float | None,
) -> Scored:
    """A complete result (every metric 1.0) with the given scores, known by `name`."""
    values: dict[str, object] = dict.fromkeys(METRICS, 1.0)
    values.update(scores)
    submission_id = uuid.uuid5(uuid.NAMESPACE_OID, name)
    NAMES[submission_id] = name
    return Scored(
        submission_id=submission_id,
        participant_id=participant if participant is not None else len(NAMES),
        submitted_at=T0 + dt.timedelta(minutes=minute),
        scores=values,
        is_baseline=baseline,
        selected=selected,
    )


def names(placed: list[ranking.Placed] | list[ranking.Chosen]) -> list[str]:
    return [NAMES[item.scored.submission_id] for item in placed]


def rank(rule: ranking.RankingRule, *results: Scored) -> list[str]:
    return names(place(rule, list(results)))


# --- Parsing a phase's rule ------------------------------------------------------------------


def test_the_default_composite_ignores_the_metrics_field() -> None:
    rule = ranking_rule_parse(kind="composite", spec="nonsense")
    assert rule.metrics == ("composite",)


def test_primary_metric_with_tie_breakers_keeps_their_order() -> None:
    rule = ranking_rule_parse(kind="primary", spec=" style_distance , content_distance,params")
    assert rule.metrics == ("style_distance", "content_distance", "params")
    assert rule.weights == ()


def test_weighted_composite_reads_weights_and_defaults_to_one() -> None:
    rule = ranking_rule_parse(kind="weighted", spec="style_distance:2, judge_realism")
    assert rule.metrics == ("style_distance", "judge_realism")
    assert rule.weights == (2.0, 1.0)


@pytest.mark.parametrize(
    ("kind", "spec", "message"),
    [
        ("primary", "", ranking.NEEDS_METRICS),
        ("average_rank", " , ", ranking.NEEDS_METRICS),
        (
            "primary",
            "style",
            ranking.UNKNOWN_METRIC.format(name="style", choices=", ".join(METRICS)),
        ),
        ("primary", "params, params", ranking.DUPLICATE_METRIC.format(name="params")),
        ("primary", "params:2", ranking.WEIGHTS_ONLY_WEIGHTED),
        ("weighted", "params:-1", ranking.BAD_WEIGHT.format(name="params", weight="-1")),
        ("weighted", "params:nan", ranking.BAD_WEIGHT.format(name="params", weight="nan")),
        ("weighted", "params:x", ranking.BAD_WEIGHT.format(name="params", weight="x")),
        (
            "fastest",
            "",
            ranking.UNKNOWN_RULE.format(
                kind="fastest", choices="composite, primary, weighted, average_rank"
            ),
        ),
    ],
)
def test_unusable_rules_are_refused_with_a_sentence(kind: str, spec: str, message: str) -> None:
    with pytest.raises(RankingRuleError) as error:
        ranking_rule_parse(kind=kind, spec=spec)
    assert str(error.value) == message


def test_phase_choices_match_the_ranking_module() -> None:
    assert tuple(Phase.RankingRule.values) == ranking.RULE_KINDS
    assert tuple(Phase.Representation.values) == ranking.REPRESENTATIONS


# --- The default composite -------------------------------------------------------------------


def test_composite_lower_is_better() -> None:
    assert rank(COMPOSITE, result("b", composite=2.0), result("a", composite=1.5)) == ["a", "b"]


def test_missing_value_never_ranks_above_a_result_with_every_value() -> None:
    ranked = rank(
        COMPOSITE,
        result("missing", composite=0.1, judge_fd=None),
        result("worst", composite=1e9),
        result("nan", composite=math.nan),
    )
    assert ranked == ["worst", "missing", "nan"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, None])
def test_non_finite_values_rank_as_missing(bad: float | None) -> None:
    rule = ranking_rule_parse(kind="primary", spec="style_distance")
    assert rank(rule, result("a", style_distance=bad), result("b", style_distance=50.0)) == [
        "b",
        "a",
    ]


def test_minus_infinity_is_not_the_best_lower_is_better_score() -> None:
    rule = ranking_rule_parse(kind="primary", spec="content_distance")
    assert rank(rule, result("-inf", content_distance=-math.inf), result("a"))[0] == "a"


def test_ties_go_to_the_earlier_submission() -> None:
    late = result("late", minute=5, composite=1.0)
    early = result("early", minute=1, composite=1.0)
    assert rank(COMPOSITE, late, early) == ["early", "late"]


# --- One metric with tie-breakers ------------------------------------------------------------


def test_primary_higher_is_better_metric_ranks_the_largest_first() -> None:
    rule = ranking_rule_parse(kind="primary", spec="judge_realism")
    assert rank(rule, result("a", judge_realism=0.2), result("b", judge_realism=0.9)) == ["b", "a"]


def test_tie_breakers_decide_in_order_and_each_keeps_its_direction() -> None:
    rule = ranking_rule_parse(kind="primary", spec="style_distance, judge_realism, params")
    results = [
        result("a", minute=0, style_distance=1.0, judge_realism=0.5, params=10.0),
        result("b", minute=1, style_distance=1.0, judge_realism=0.7, params=99.0),
        result("c", minute=2, style_distance=1.0, judge_realism=0.5, params=5.0),
        result("d", minute=3, style_distance=0.5, judge_realism=0.1, params=99.0),
        result("e", minute=4, style_distance=1.0, judge_realism=0.5, params=5.0),
    ]
    assert rank(rule, *results) == ["d", "b", "c", "e", "a"]


def test_a_missing_tie_breaker_ranks_below_every_complete_result() -> None:
    rule = ranking_rule_parse(kind="primary", spec="style_distance, content_distance")
    results = [
        result("a", style_distance=0.1, content_distance=None),
        result("b", style_distance=0.9),
        result("c", style_distance=None),
    ]
    # Among those without every value, the ones with the primary metric still come first.
    assert rank(rule, *results) == ["b", "a", "c"]


def test_a_missing_metric_outside_the_rule_still_ranks_below_complete_ones() -> None:
    rule = ranking_rule_parse(kind="primary", spec="params")
    results = [result("a", params=1.0, judge_fd=None), result("b", params=2.0)]
    assert rank(rule, *results) == ["b", "a"]


# --- The weighted composite ------------------------------------------------------------------


def test_weighted_score_turns_higher_is_better_metrics_around() -> None:
    rule = ranking_rule_parse(kind="weighted", spec="style_distance:2, judge_realism:1")
    a = result("a", style_distance=0.5, judge_realism=0.2)  # 2·0.5 − 0.2 = 0.8
    b = result("b", style_distance=0.6, judge_realism=0.9)  # 2·0.6 − 0.9 = 0.3
    placed = place(rule, [a, b])
    assert names(placed) == ["b", "a"]
    assert [item.score for item in placed] == pytest.approx([0.3, 0.8])


def test_weighted_score_is_missing_when_any_of_its_metrics_is() -> None:
    rule = ranking_rule_parse(kind="weighted", spec="style_distance, content_distance")
    ranked = place(rule, [result("a", content_distance=math.nan), result("b", style_distance=9)])
    assert [item.score for item in ranked] == [10.0, None]


# --- The average rank ------------------------------------------------------------------------


def test_average_rank_over_metrics_in_both_directions() -> None:
    rule = ranking_rule_parse(kind="average_rank", spec="style_distance, judge_realism")
    results = [
        result("a", style_distance=0.1, judge_realism=0.1),  # ranks 1 and 3: 2.0
        result("b", style_distance=0.2, judge_realism=0.9),  # ranks 2 and 1: 1.5
        result("c", style_distance=0.3, judge_realism=0.5),  # ranks 3 and 2: 2.5
    ]
    placed = place(rule, results)
    assert names(placed) == ["b", "a", "c"]
    assert [item.score for item in placed] == [1.5, 2.0, 2.5]


def test_average_rank_ties_share_the_mean_of_their_places() -> None:
    rule = ranking_rule_parse(kind="average_rank", spec="style_distance")
    placed = place(
        rule,
        [
            result("a", minute=2, style_distance=0.5),
            result("b", minute=1, style_distance=0.5),
            result("c", minute=0, style_distance=0.9),
        ],
    )
    assert [(NAMES[item.scored.submission_id], item.score) for item in placed] == [
        ("b", 1.5),
        ("a", 1.5),
        ("c", 3.0),
    ]


def test_average_rank_puts_results_missing_a_metric_last() -> None:
    rule = ranking_rule_parse(kind="average_rank", spec="style_distance, judge_fd")
    results = [result("a", judge_fd=math.inf), result("b", style_distance=5.0, judge_fd=5.0)]
    assert rank(rule, *results) == ["b", "a"]


# --- Who represents a participant ------------------------------------------------------------


def board(
    representation: str,
    results: list[Scored],
    rule: ranking.RankingRule = COMPOSITE,
    *,
    private: list[Scored] | None = None,
    max_selected: int = 2,
) -> list[ranking.Chosen]:
    """The public board of `results`, or the private one when `private` results are given."""
    return board_compute(
        rule,
        representation=representation,
        max_selected=max_selected,
        board=results if private is None else private,
        public=results,
    )


def test_best_representation_keeps_each_participants_best() -> None:
    rows = board(
        BEST,
        [
            result("a", participant=1, minute=0, composite=3.0),
            result("b", participant=1, minute=1, composite=1.0),
            result("c", participant=2, minute=2, composite=2.0),
        ],
    )
    assert names(rows) == ["b", "c"]
    assert {row.selection for row in rows} == {BEST}


def test_latest_representation_keeps_the_latest_even_when_worse() -> None:
    rows = board(
        LATEST,
        [
            result("a", participant=1, minute=0, composite=1.0),
            result("b", participant=1, minute=5, composite=9.0),
            result("c", participant=2, minute=2, composite=2.0),
        ],
    )
    assert names(rows) == ["c", "b"]


def test_selected_representation_ranks_the_best_of_the_selected() -> None:
    rows = board(
        SELECTED,
        [
            result("a", participant=1, composite=1.0),
            result("b", participant=1, composite=3.0, selected=True),
            result("c", participant=1, composite=2.0, selected=True),
        ],
    )
    assert names(rows) == ["c"]
    assert rows[0].selection == SELECTED


def test_nothing_selected_falls_back_to_the_best_public_submissions_on_the_private_board() -> None:
    public = [
        result("a", participant=1, minute=0, composite=1.0),
        result("b", participant=1, minute=1, composite=2.0),
        result("c", participant=1, minute=2, composite=3.0),
    ]
    # On the private board c would be best, but only the two best public ones stand in.
    private = [
        result("a", participant=1, minute=0, composite=5.0),
        result("b", participant=1, minute=1, composite=4.0),
        result("c", participant=1, minute=2, composite=0.5),
    ]
    rows = board(SELECTED, public, private=private, max_selected=2)
    assert names(rows) == ["b"]
    assert rows[0].selection == AUTO


def test_baselines_are_rows_of_their_own_and_take_no_participant_out() -> None:
    rows = board(
        BEST,
        [
            result("base", participant=9, baseline=True, composite=1.5),
            result("a", participant=9, baseline=True, composite=0.5),
            result("b", participant=1, composite=1.0),
            result("c", participant=2, composite=2.0),
        ],
    )
    assert names(rows) == ["a", "b", "base", "c"]
    assert [row.selection for row in rows] == [BASELINE, BEST, BASELINE, BEST]


def test_average_rank_board_ranks_among_representatives_and_baselines_do_not_move_them() -> None:
    rule = ranking_rule_parse(kind="average_rank", spec="style_distance, content_distance")
    results = [
        result("a", participant=1, style_distance=1.0, content_distance=3.0),
        result("b", participant=2, style_distance=2.0, content_distance=1.0),
        result("c", participant=2, style_distance=9.0, content_distance=9.0),
    ]
    without = board(BEST, results, rule)
    with_baseline = board(
        BEST,
        [*results, result("base", baseline=True, style_distance=1.5, content_distance=2.0)],
        rule,
    )
    assert [(row.scored.submission_id, row.placed.score) for row in without] == [
        (row.scored.submission_id, row.placed.score)
        for row in with_baseline
        if row.selection != BASELINE
    ]
    # Each participant's row ranks 1 and 2: the second submission of 2 is not counted.
    assert sorted(row.placed.score for row in without) == [1.5, 1.5]
    baseline = next(row for row in with_baseline if row.selection == BASELINE)
    assert baseline.placed.score == 2.0  # it would rank 2nd on both metrics


# --- The chart and the stored order ----------------------------------------------------------


def test_improvements_keep_only_new_bests_and_merge_like_a_full_pass() -> None:
    rng = random.Random(3)
    results = [
        result(name, participant=index % 4, minute=rng.randrange(1000), composite=rng.random())
        for index, name in enumerate("abcdefghijklmnopqrstuvwxyz")
    ]
    points = ranking.chart_points(COMPOSITE, results)
    full = improvements(COMPOSITE, points)
    assert all(b.value < a.value and b.at >= a.at for a, b in itertools.pairwise(full))
    partial = improvements(COMPOSITE, points[:13])
    assert improvements(COMPOSITE, [*partial, *points[13:]]) == full


def test_higher_is_better_chart_goes_up() -> None:
    rule = ranking_rule_parse(kind="primary", spec="judge_realism")
    points = ranking.chart_points(
        rule,
        [
            result("a", minute=0, judge_realism=0.3),
            result("b", minute=1, judge_realism=0.2),
            result("c", minute=2, judge_realism=0.8),
            result("base", minute=3, judge_realism=0.99, baseline=True),
        ],
    )
    assert [point.value for point in improvements(rule, points)] == [0.3, 0.8]


def test_stored_order_bytes_sort_exactly_as_the_order_tuples() -> None:
    rng = random.Random(11)
    rule = ranking_rule_parse(kind="primary", spec="judge_realism, content_distance")
    values = [-math.inf, -1e300, -2.5, -0.0, 0.0, 1e-310, 0.5, 2.5, 1e300, math.inf, math.nan, None]
    results = [
        Scored(
            submission_id=uuid.UUID(int=rng.getrandbits(128)),
            participant_id=index,
            submitted_at=T0 + dt.timedelta(microseconds=rng.randrange(-(10**12), 10**12)),
            scores={
                **dict.fromkeys(METRICS, 1.0),
                "judge_realism": rng.choice(values),
                "content_distance": rng.choice(values),
                "params": rng.choice([1.0, None]),
            },
        )
        for index in range(400)
    ]
    placed = place(rule, results)
    assert sorted(placed, key=order_bytes) == placed
