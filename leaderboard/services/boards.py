"""Recomputing a phase's boards from its results.

Entries are recomputed from one query of the phase's eligible results. A result is eligible
when it belongs to a baseline or to an approved participant, and its submission is not
disqualified; a submission keeps its results (and its place) while it is being rescored.
When one participant's results change, only their rows are rewritten, and the chart is
extended from the points it already has; rules whose numbers depend on everyone's results
(the average rank) and changes that could lower the chart recompute the whole phase.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from competitions.models import Participation, Phase
from leaderboard import ranking
from leaderboard.models import LeaderboardEntry, LeaderboardSummary
from scoring.engine.metrics import METRICS
from scoring.models import Leaderboard, Result
from submissions.models import Submission

logger = logging.getLogger(__name__)

_FIELDS = (
    "pk",
    "leaderboard",
    "submission_id",
    "submission__participant_id",
    "submission__created_at",
    "submission__is_baseline",
    "submission__selected_for_final",
    "submission__description",
    "submission__checkpoint_name",
    *METRICS,
)


@dataclass
class _Loaded:
    """The eligible results of a phase (or of one participant in it), as ranking sees them."""

    by_board: dict[str, list[ranking.Scored]] = field(
        default_factory=lambda: {board: [] for board in Leaderboard.values}
    )
    result_ids: dict[tuple[str, uuid.UUID], int] = field(default_factory=dict)
    labels: dict[uuid.UUID, str] = field(default_factory=dict)


def eligible_results(*, phase: Phase) -> QuerySet[Result]:
    """Results that may appear on the phase's leaderboards."""
    approved = Participation.objects.filter(
        challenge_id=phase.challenge_id,
        user_id=OuterRef("submission__participant_id"),
        status=Participation.Status.APPROVED,
    )
    return Result.objects.filter(
        submission__phase=phase, submission__disqualification__isnull=True
    ).filter(Q(submission__is_baseline=True) | Exists(approved))


def _load(results: QuerySet[Result]) -> _Loaded:
    loaded = _Loaded()
    for row in results.values_list(*_FIELDS):
        (
            pk,
            board,
            submission_id,
            participant_id,
            created_at,
            is_baseline,
            selected,
            description,
            checkpoint_name,
            *values,
        ) = row
        loaded.by_board[board].append(
            ranking.Scored(
                submission_id=submission_id,
                participant_id=participant_id,
                submitted_at=created_at,
                scores=dict(zip(METRICS, values, strict=True)),
                is_baseline=is_baseline,
                selected=selected,
            )
        )
        loaded.result_ids[(board, submission_id)] = pk
        if is_baseline:
            loaded.labels[submission_id] = description or checkpoint_name
    return loaded


def _rule(phase: Phase) -> ranking.RankingRule:
    return ranking.ranking_rule_parse(kind=phase.ranking_rule, spec=phase.ranking_metrics)


def _rule_snapshot(phase: Phase, rule: ranking.RankingRule) -> dict[str, Any]:
    return {
        "kind": rule.kind,
        "metrics": list(rule.metrics),
        "weights": list(rule.weights),
        "representation": phase.representation,
        "max_selected": phase.max_selected,
    }


def _lock(phase: Phase) -> Phase:
    """The phase, locked: leaderboard writes of one phase happen one at a time."""
    return Phase.objects.select_for_update().get(pk=phase.pk)


def _entries(phase: Phase, rule: ranking.RankingRule, loaded: _Loaded) -> list[LeaderboardEntry]:
    """The rows of both leaderboards for the loaded results."""
    submitted: dict[int, dict[uuid.UUID, dt.datetime]] = defaultdict(dict)
    for results in loaded.by_board.values():
        for scored in results:
            if not scored.is_baseline:
                submitted[scored.participant_id][scored.submission_id] = scored.submitted_at
    public = loaded.by_board[Leaderboard.PUBLIC]
    entries = []
    for board, results in loaded.by_board.items():
        rows = ranking.board_compute(
            rule,
            representation=phase.representation,
            max_selected=phase.max_selected,
            board=results,
            public=public,
        )
        for row in rows:
            scored = row.scored
            times = (
                {scored.submission_id: scored.submitted_at}
                if scored.is_baseline
                else submitted[scored.participant_id]
            )
            entries.append(
                LeaderboardEntry(
                    phase=phase,
                    leaderboard=board,
                    participant_id=scored.participant_id,
                    submission_id=scored.submission_id,
                    result_id=loaded.result_ids[(board, scored.submission_id)],
                    is_baseline=scored.is_baseline,
                    selection=row.selection,
                    score=row.placed.score,
                    sort_key=ranking.order_bytes(row.placed),
                    submission_count=len(times),
                    last_submitted_at=max(times.values()),
                )
            )
    return entries


@transaction.atomic
def leaderboard_recompute(*, phase: Phase) -> None:
    """Rebuild both leaderboards of the phase from its eligible results."""
    phase = _lock(phase)
    _recompute(phase, _rule(phase))


def _recompute(phase: Phase, rule: ranking.RankingRule) -> None:
    loaded = _load(eligible_results(phase=phase))
    entries = _entries(phase, rule, loaded)
    LeaderboardEntry.objects.filter(phase=phase).delete()
    LeaderboardEntry.objects.bulk_create(entries, batch_size=500)
    for board, results in loaded.by_board.items():
        baselines = [
            [loaded.labels[scored.submission_id], value]
            for scored in results
            if scored.is_baseline and (value := ranking.chart_value(rule, scored)) is not None
        ]
        LeaderboardSummary.objects.update_or_create(
            phase=phase,
            leaderboard=board,
            defaults={
                "rule": _rule_snapshot(phase, rule),
                "history": _history_json(
                    ranking.improvements(rule, ranking.chart_points(rule, results))
                ),
                "baselines": sorted(baselines, key=lambda item: item[1]),
            },
        )
    logger.info("leaderboards of phase %s recomputed: %d entries", phase.pk, len(entries))


def _history_json(points: Iterable[ranking.ChartPoint]) -> list[list[Any]]:
    return [
        [point.at.isoformat(), point.value, str(point.submission_id), point.participant_id]
        for point in points
    ]


def _history_parse(history: list[list[Any]]) -> list[ranking.ChartPoint]:
    return [
        ranking.ChartPoint(dt.datetime.fromisoformat(at), value, uuid.UUID(sid), participant)
        for at, value, sid, participant in history
    ]


@transaction.atomic
def leaderboard_participant_refresh(*, phase: Phase, participant: AbstractBaseUser) -> None:
    """Rewrite one participant's rows of the phase (after a new result, a ban, a selection).

    The result equals a full recompute; it falls back to one when other rows could move too.
    """
    phase = _lock(phase)
    rule = _rule(phase)
    summaries = {summary.leaderboard: summary for summary in phase.leaderboard_summaries.all()}
    stale = len(summaries) < len(Leaderboard.values) or any(
        summary.rule != _rule_snapshot(phase, rule) for summary in summaries.values()
    )
    if rule.kind == ranking.AVERAGE_RANK or stale:
        _recompute(phase, rule)
        return
    loaded = _load(
        eligible_results(phase=phase).filter(
            submission__participant=participant, submission__is_baseline=False
        )
    )
    histories = {}
    for board, summary in summaries.items():
        history = _chart_extended(rule, summary, loaded.by_board[board], participant.pk)
        if history is None:
            _recompute(phase, rule)
            return
        histories[board] = history
    LeaderboardEntry.objects.filter(
        phase=phase, participant=participant, is_baseline=False
    ).delete()
    LeaderboardEntry.objects.bulk_create(_entries(phase, rule, loaded))
    for board, summary in summaries.items():
        history = _history_json(histories[board])
        if history != summary.history:
            summary.history = history
            summary.save(update_fields=["history", "computed_at"])


def _chart_extended(
    rule: ranking.RankingRule,
    summary: LeaderboardSummary,
    results: list[ranking.Scored],
    participant_id: int,
) -> list[ranking.ChartPoint] | None:
    """The chart with the participant's current results added; None when one of their points
    on it changed or went away (a rescore, a disqualification, a ban): then only a full
    recompute can tell what the line looks like without it."""
    existing = _history_parse(summary.history)
    current = ranking.chart_points(rule, results)
    now = {(point.submission_id, point.value) for point in current}
    if any(
        point.participant_id == participant_id and (point.submission_id, point.value) not in now
        for point in existing
    ):
        return None
    return ranking.improvements(rule, [*existing, *current])


def leaderboard_submission_update(*, submission_id: object) -> None:
    """Bring the phase's leaderboards up to date with one submission's results."""
    submission = Submission.objects.select_related("phase", "participant").get(pk=submission_id)
    submission_boards_refresh(submission)


def submission_boards_refresh(submission: Submission) -> None:
    """The boards a submission's results appear on, after they changed."""
    if submission.is_baseline:
        # Baselines are drawn on the chart as reference lines: rebuild the whole phase.
        leaderboard_recompute(phase=submission.phase)
    else:
        leaderboard_participant_refresh(phase=submission.phase, participant=submission.participant)


def participation_leaderboards_refresh(*, participation: Participation) -> None:
    """After a ban, a rejection or an approval: the participant's rows in every phase."""
    for phase in participation.challenge.phases.all():
        leaderboard_participant_refresh(phase=phase, participant=participation.user)
