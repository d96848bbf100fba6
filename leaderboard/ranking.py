"""The ranking specification: how results are ordered and which submission stands for whom.

Plain Python over plain values, no Django, so that every rule can be tested with hand-made
results; `leaderboard.services` feeds it from the database. README.md in this folder states
the same specification in prose.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import struct
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from scoring.engine.metrics import METRIC_DIRECTIONS, METRICS, Direction, is_number

COMPOSITE, PRIMARY, WEIGHTED, AVERAGE_RANK = "composite", "primary", "weighted", "average_rank"
RULE_KINDS = (COMPOSITE, PRIMARY, WEIGHTED, AVERAGE_RANK)
BEST, LATEST, SELECTED = "best", "latest", "selected"
REPRESENTATIONS = (BEST, LATEST, SELECTED)
# How an entry's submission was chosen: the representations, plus the fallback of `selected`
# when a participant selected nothing, plus baselines (each baseline submission is a row).
AUTO, BASELINE = "auto", "baseline"

# Tiers: a result with every metric finite ranks above one missing any metric, which ranks
# above one missing a metric the rule itself needs.
COMPLETE, RANKABLE, UNRANKABLE = 0, 1, 2

UNKNOWN_RULE = "Unknown ranking rule “{kind}”; choose one of {choices}."
NEEDS_METRICS = "This ranking rule needs at least one metric."
UNKNOWN_METRIC = "Unknown metric “{name}”; choose from {choices}."
DUPLICATE_METRIC = "The metric “{name}” is listed twice."
WEIGHTS_ONLY_WEIGHTED = "Weights (metric:weight) apply to the weighted composite only."
BAD_WEIGHT = "The weight of “{name}” must be a positive number, not “{weight}”."


class RankingRuleError(ValueError):
    """A phase's ranking settings that cannot be used; the message says what to change."""


@dataclass(frozen=True)
class RankingRule:
    kind: str
    metrics: tuple[str, ...]
    # One per metric for the weighted composite; empty for the other rules.
    weights: tuple[float, ...] = ()

    @property
    def chart_metric(self) -> str | None:
        """The metric the best-over-time chart follows; None: the weighted score itself."""
        return None if self.kind == WEIGHTED else self.metrics[0]

    @property
    def interval_metric(self) -> str | None:
        """The metric whose 95 % interval is the ranked score's: the composite or the primary
        metric; None for the weighted score and the average rank, which have no interval."""
        return None if self.kind in (WEIGHTED, AVERAGE_RANK) else self.metrics[0]

    @property
    def chart_direction(self) -> Direction:
        metric = self.chart_metric
        return Direction.LOWER if metric is None else METRIC_DIRECTIONS[metric]

    def describe(self) -> str:
        """One sentence for the leaderboard page."""
        if self.kind == COMPOSITE:
            return "Ranked by the default composite score (lower is better)."
        if self.kind == PRIMARY:
            text = f"Ranked by {_with_direction(self.metrics[0])}"
            if len(self.metrics) > 1:
                text += ", ties broken by " + ", then ".join(
                    _with_direction(name) for name in self.metrics[1:]
                )
            return text + "."
        if self.kind == WEIGHTED:
            terms = " ".join(
                f"{'+' if METRIC_DIRECTIONS[name] == Direction.LOWER else '−'} {weight:g}·{name}"
                for name, weight in zip(self.metrics, self.weights, strict=True)
            ).lstrip("+ ")
            return f"Ranked by the weighted score {terms} (lower is better)."
        return (
            "Ranked by the average of the ranks on "
            + ", ".join(_with_direction(name) for name in self.metrics)
            + " (lower is better)."
        )


def _with_direction(name: str) -> str:
    return f"{name} ({METRIC_DIRECTIONS[name].value} is better)"


def ranking_rule_parse(*, kind: str, spec: str) -> RankingRule:
    """A phase's rule from its kind and its comma-separated metrics (`name` or `name:weight`).

    The default composite ignores the metrics, so switching back to it never needs them
    cleared; every other rule needs at least one known metric, each listed once.
    """
    if kind not in RULE_KINDS:
        raise RankingRuleError(UNKNOWN_RULE.format(kind=kind, choices=", ".join(RULE_KINDS)))
    if kind == COMPOSITE:
        return RankingRule(kind=COMPOSITE, metrics=("composite",))
    names: list[str] = []
    weights: list[float] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, _, weight_text = (piece.strip() for piece in item.partition(":"))
        if name not in METRIC_DIRECTIONS:
            raise RankingRuleError(UNKNOWN_METRIC.format(name=name, choices=", ".join(METRICS)))
        if name in names:
            raise RankingRuleError(DUPLICATE_METRIC.format(name=name))
        if weight_text and kind != WEIGHTED:
            raise RankingRuleError(WEIGHTS_ONLY_WEIGHTED)
        names.append(name)
        weights.append(_weight(name, weight_text or "1"))
    if not names:
        raise RankingRuleError(NEEDS_METRICS)
    return RankingRule(
        kind=kind, metrics=tuple(names), weights=tuple(weights) if kind == WEIGHTED else ()
    )


def _weight(name: str, text: str) -> float:
    try:
        weight = float(text)
    except ValueError:
        weight = math.nan
    if not (math.isfinite(weight) and weight > 0):
        raise RankingRuleError(BAD_WEIGHT.format(name=name, weight=text))
    return weight


# --- Ordering results -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """One submission's result on one leaderboard, with what ranking needs to know of it."""

    submission_id: uuid.UUID
    participant_id: int
    submitted_at: dt.datetime
    scores: Mapping[str, object]
    is_baseline: bool = False
    selected: bool = False
    # Every metric as a finite float, or None when missing or not finite; worked out once.
    values: dict[str, float | None] = field(init=False, repr=False, compare=False)
    complete: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values = {name: _finite(self.scores.get(name)) for name in METRICS}
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "complete", None not in values.values())


@dataclass(frozen=True)
class Placed:
    """A result with its tier, the rule's score and the keys it is ordered by (lower first)."""

    scored: Scored
    tier: int
    score: float | None
    keys: tuple[float, ...]

    @property
    def order(self) -> tuple[object, ...]:
        """Best first: tier, the rule's keys, earlier submission, then the id (never equal)."""
        return (self.tier, *self.keys, self.scored.submitted_at, self.scored.submission_id.bytes)


_SIGNS = {name: 1.0 if way == Direction.LOWER else -1.0 for name, way in METRIC_DIRECTIONS.items()}


def oriented(name: str, value: float) -> float:
    """The value turned so that lower is better."""
    return _SIGNS[name] * value


def _finite(value: object) -> float | None:
    if type(value) is float:  # what the database gives: the fast path of a hot loop
        return value if math.isfinite(value) else None
    return float(value) if is_number(value) else None  # type: ignore[arg-type]


def _tier(rule: RankingRule, scored: Scored) -> int:
    if scored.complete:
        return COMPLETE
    if any(scored.values[name] is None for name in rule.metrics):
        return UNRANKABLE
    return RANKABLE


def place(
    rule: RankingRule, results: Sequence[Scored], *, reference: Sequence[Scored] | None = None
) -> list[Placed]:
    """The results under the rule, best first.

    For the average rank, a result's rank on each metric is taken among `reference` (by
    default the results themselves), so that baselines can be ranked against participants
    without moving them.
    """
    if rule.kind == AVERAGE_RANK:
        placed = _average_ranks(rule, results, reference)
    else:
        placed = [_place_one(rule, scored) for scored in results]
    return sorted(placed, key=lambda item: item.order)


def _place_one(rule: RankingRule, scored: Scored) -> Placed:
    values = [scored.values[name] for name in rule.metrics]
    tier = _tier(rule, scored)
    keys = tuple(
        math.inf if value is None else oriented(name, value)
        for name, value in zip(rule.metrics, values, strict=True)
    )
    if rule.kind == WEIGHTED:
        if tier == UNRANKABLE:
            return Placed(scored, tier, None, (math.inf,))
        total = math.fsum(w * k for w, k in zip(rule.weights, keys, strict=True))
        return Placed(scored, tier, total, (total,))
    return Placed(scored, tier, values[0], keys)


def _average_ranks(
    rule: RankingRule, results: Sequence[Scored], reference: Sequence[Scored] | None
) -> list[Placed]:
    """Fractional ranks (ties share the mean of the places they span), averaged over metrics.

    A result missing one of the metrics gets no average and ranks after those with one.
    """
    within = reference is None
    pool = results if reference is None else reference
    columns = {
        name: sorted(
            oriented(name, value)
            for value in (scored.values[name] for scored in pool)
            if value is not None
        )
        for name in rule.metrics
    }
    placed = []
    for scored in results:
        tier = _tier(rule, scored)
        if tier == UNRANKABLE:
            placed.append(Placed(scored, tier, None, (math.inf,)))
            continue
        ranks = []
        for name in rule.metrics:
            value = oriented(name, scored.values[name])  # type: ignore[arg-type]
            column = columns[name]
            better = bisect.bisect_left(column, value)
            equal = bisect.bisect_right(column, value) - better - (1 if within else 0)
            ranks.append(1 + better + equal / 2)
        average = math.fsum(ranks) / len(ranks)
        placed.append(Placed(scored, tier, average, (average,)))
    return placed


def intervals_overlap(first: tuple[float, float], second: tuple[float, float]) -> bool:
    """Whether two [low, high] intervals share a point (touching counts): the two results are
    then statistically tied at that level."""
    return first[0] <= second[1] and second[0] <= first[1]


# --- Who stands for a participant ------------------------------------------------------------


@dataclass(frozen=True)
class Chosen:
    """A row of a leaderboard: the placed result and how its submission was chosen."""

    placed: Placed
    selection: str

    @property
    def scored(self) -> Scored:
        return self.placed.scored


def board_compute(
    rule: RankingRule,
    *,
    representation: str,
    max_selected: int,
    board: Sequence[Scored],
    public: Sequence[Scored],
) -> list[Chosen]:
    """One leaderboard, best first: a row per participant and a row per baseline submission.

    `board` holds the eligible results on this leaderboard, `public` those on the public one
    (the same list for the public leaderboard): when a participant of a `selected` phase
    selected nothing, their `max_selected` best public submissions stand in, as on Kaggle.
    """
    participants = [scored for scored in board if not scored.is_baseline]
    baselines = [scored for scored in board if scored.is_baseline]
    mine = _by_participant(place(rule, participants))
    public_mine = mine
    if representation == SELECTED and public is not board:
        public_mine = _by_participant(
            place(rule, [scored for scored in public if not scored.is_baseline])
        )
    rows = [
        _represent(representation, max_selected, placed, public_mine.get(participant_id, []))
        for participant_id, placed in mine.items()
    ]
    reference = None
    if rule.kind == AVERAGE_RANK:
        # Ranks among the rows themselves, so that a participant's other submissions do not
        # move anyone; baselines are ranked against the rows without taking part in them.
        again = {item.scored.submission_id: item for item in place(rule, [r.scored for r in rows])}
        rows = [Chosen(again[row.scored.submission_id], row.selection) for row in rows]
        reference = [row.scored for row in rows]
    rows += [Chosen(item, BASELINE) for item in place(rule, baselines, reference=reference)]
    return sorted(rows, key=lambda row: row.placed.order)


def _by_participant(placed: Iterable[Placed]) -> dict[int, list[Placed]]:
    """Each participant's results, best first (the input is best first)."""
    grouped: dict[int, list[Placed]] = defaultdict(list)
    for item in placed:
        grouped[item.scored.participant_id].append(item)
    return grouped


def _represent(
    representation: str, max_selected: int, mine: list[Placed], public_mine: list[Placed]
) -> Chosen:
    if representation == LATEST:
        latest = max(mine, key=lambda item: (item.scored.submitted_at, item.scored.submission_id))
        return Chosen(latest, LATEST)
    if representation == SELECTED:
        selected = [item for item in mine if item.scored.selected]
        if selected:
            return Chosen(selected[0], SELECTED)
        stand_ins = {item.scored.submission_id for item in public_mine[:max_selected]}
        candidates = [item for item in mine if item.scored.submission_id in stand_ins]
        return Chosen((candidates or mine)[0], AUTO)
    return Chosen(mine[0], BEST)


# --- Best score over time --------------------------------------------------------------------


class ChartPoint(NamedTuple):
    at: dt.datetime
    value: float
    submission_id: uuid.UUID
    participant_id: int


def chart_value(rule: RankingRule, scored: Scored) -> float | None:
    """What the chart plots for a result: its chart metric, or the weighted score."""
    if rule.chart_metric is not None:
        return scored.values[rule.chart_metric]
    return _place_one(rule, scored).score


def chart_points(rule: RankingRule, results: Iterable[Scored]) -> list[ChartPoint]:
    """A point for each participant result the chart can plot (baselines are drawn apart)."""
    points = []
    for scored in results:
        value = None if scored.is_baseline else chart_value(rule, scored)
        if value is not None:
            points.append(
                ChartPoint(scored.submitted_at, value, scored.submission_id, scored.participant_id)
            )
    return points


def improvements(rule: RankingRule, points: Iterable[ChartPoint]) -> list[ChartPoint]:
    """The points that beat every earlier one: the best score over time as a step line.

    Adding points and filtering again gives the same line as filtering everything at once,
    which is what lets one new result update the chart without reading all the others.
    """
    sign = 1.0 if rule.chart_direction == Direction.LOWER else -1.0
    kept: list[ChartPoint] = []
    for point in sorted(points, key=lambda item: (item.at, item.submission_id.bytes)):
        if not kept or sign * point.value < sign * kept[-1].value:
            kept.append(point)
    return kept


# --- Storing the order -----------------------------------------------------------------------

_SIGN = 1 << 63
_ALL_ONES = (1 << 64) - 1
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def order_bytes(placed: Placed) -> bytes:
    """`placed.order` as bytes that compare (bytewise, as databases compare binary columns)
    exactly as the tuples do, so the database can order, page and count by one column."""
    micros = (placed.scored.submitted_at - _EPOCH) // dt.timedelta(microseconds=1)
    return b"".join(
        [
            bytes([placed.tier]),
            *(_float_bytes(key) for key in placed.keys),
            (micros + _SIGN).to_bytes(8, "big"),
            placed.scored.submission_id.bytes,
        ]
    )


def _float_bytes(value: float) -> bytes:
    """IEEE 754 bits with the sign bit flipped (and all bits for negatives): order-preserving."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", value + 0.0))
    bits = bits ^ _ALL_ONES if bits & _SIGN else bits | _SIGN
    return bits.to_bytes(8, "big")
