"""Reads for submissions: quotas, a participant's submissions, what may be seen by whom."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone

from competitions.models import SHARED_SCORING_QUEUE, Challenge, Phase
from competitions.selectors import user_organizes
from models.architectures import Inputs, architectures
from scoring.engine.intervals import intervals_read
from scoring.engine.metrics import METRICS
from scoring.models import Result
from scoring.presence import queue_served
from submissions.models import Submission

AnyUser = AbstractBaseUser | AnonymousUser
QUOTA_WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True)
class QuotaUsage:
    """Where a participant stands against a phase's quotas at one moment."""

    daily_used: int
    daily_limit: int
    total_used: int
    total_limit: int
    running: int
    running_limit: int
    # When the oldest submission of the rolling window leaves it (a slot frees up).
    next_daily_slot_at: dt.datetime | None

    @property
    def daily_left(self) -> int:
        return max(self.daily_limit - self.daily_used, 0)

    @property
    def total_left(self) -> int:
        return max(self.total_limit - self.total_used, 0)

    @property
    def running_left(self) -> int:
        return max(self.running_limit - self.running, 0)


def counted_submissions(*, participant: AbstractBaseUser, phase: Phase) -> QuerySet[Submission]:
    """The participant's submissions that count against the phase's daily and total quotas."""
    submissions = Submission.objects.filter(phase=phase, participant=participant, is_baseline=False)
    if not phase.quota_counts_failed:
        submissions = submissions.exclude(status=Submission.Status.FAILED)
    if not phase.quota_counts_cancelled:
        submissions = submissions.exclude(status=Submission.Status.CANCELLED)
    return submissions


def quota_usage(
    *, participant: AbstractBaseUser, phase: Phase, now: dt.datetime | None = None
) -> QuotaUsage:
    now = now or timezone.now()
    counted = counted_submissions(participant=participant, phase=phase)
    window = counted.filter(created_at__gt=now - QUOTA_WINDOW)
    oldest = window.order_by("created_at").values_list("created_at", flat=True).first()
    running = Submission.objects.filter(
        phase=phase,
        participant=participant,
        is_baseline=False,
        status__in=Submission.ACTIVE_STATUSES,
    ).count()
    return QuotaUsage(
        daily_used=window.count(),
        daily_limit=phase.max_per_day,
        total_used=counted.count(),
        total_limit=phase.max_total,
        running=running,
        running_limit=phase.max_running,
        next_daily_slot_at=oldest + QUOTA_WINDOW if oldest else None,
    )


def submission_get_visible(*, pk: object, user: AnyUser) -> Submission:
    """A submission for its participant and the challenge's organizers; 404 for anyone else."""
    submission = (
        Submission.objects.select_related("phase__challenge", "participant").filter(pk=pk).first()
    )
    if submission is None or not (
        submission.participant_id == getattr(user, "pk", None)
        or user_organizes(user, submission.phase.challenge)
    ):
        raise Http404("No such submission.")
    return submission


def submissions_for_user(*, user: AbstractBaseUser) -> QuerySet[Submission]:
    return Submission.objects.filter(participant=user).select_related("phase__challenge")


def private_scores_visible(*, user: AnyUser, submission: Submission) -> bool:
    """Private-leaderboard numbers: the challenge's organizers, and everyone once the phase
    has ended and the organizers revealed its private leaderboard."""
    return submission.phase.private_revealed or user_organizes(user, submission.phase.challenge)


def _visible_results(*, submission: Submission, user: AnyUser) -> list[Result]:
    """The results the user may see: public always, private when allowed. Without the
    per-image values: no page or API shows them, and they are the bulk of a row."""
    visible = ["public"]
    if private_scores_visible(user=user, submission=submission):
        visible.append("private")
    return list(submission.results.filter(leaderboard__in=visible).defer("per_image"))


def submission_scores(*, submission: Submission, user: AnyUser) -> dict[str, dict[str, Any]]:
    """Scores by leaderboard, as the user may see them: public always, private when allowed."""
    return _scores(_visible_results(submission=submission, user=user))


def _scores(results: list[Result]) -> dict[str, dict[str, Any]]:
    return {
        result.leaderboard: {name: getattr(result, name) for name in METRICS} for result in results
    }


WAITING_FOR_ORGANIZERS = "waiting for the organizers' worker"


def submission_stage(submission: Submission, *, now: dt.datetime | None = None) -> str:
    """The stage a participant sees: the stored one, except for a queued submission of a
    challenge on its own queue that no worker was seen serving lately (its organizers' machine
    is off): that is said, so that it does not look stuck."""
    queue = submission.phase.challenge.scoring_queue
    if submission.status != Submission.Status.QUEUED or queue == SHARED_SCORING_QUEUE:
        return submission.stage
    return submission.stage if queue_served(queue=queue, now=now) else WAITING_FOR_ORGANIZERS


def submission_status(*, submission: Submission, user: AnyUser) -> dict[str, Any]:
    """What the submission page polls and the API returns; intervals come from the same
    visible results as the scores, so the private ones stay hidden with the private scores."""
    results = _visible_results(submission=submission, user=user)
    return {
        "id": str(submission.pk),
        "status": submission.status,
        "stage": submission_stage(submission),
        "progress": submission.progress,
        "error_code": submission.error_code or None,
        "error_message": submission.error_message or None,
        "scores": _scores(results),
        "missing": {result.leaderboard: dict(result.missing) for result in results},
        "intervals": {
            result.leaderboard: intervals_read(result.intervals, METRICS) for result in results
        },
    }


@dataclass(frozen=True)
class FinalSelection:
    """What the submission page says and offers about selecting it for the final ranking."""

    applies: bool
    selected: bool = False
    used: int = 0
    limit: int = 0
    open: bool = False
    selectable: bool = False


def final_selection(*, submission: Submission, user: AnyUser) -> FinalSelection:
    return final_selections(submissions=[submission], user=user)[submission.pk]


def final_selections(
    *, submissions: Sequence[Submission], user: AnyUser
) -> dict[Any, FinalSelection]:
    """`final_selection` for a page of submissions, in two queries whatever its length."""
    applying = [
        submission
        for submission in submissions
        if submission.participant_id == getattr(user, "pk", None)
        and not submission.is_baseline
        and submission.phase.representation == Phase.Representation.SELECTED
    ]
    used: dict[int, int] = {}
    disqualified: set[Any] = set()
    if applying:
        phases = {submission.phase_id for submission in applying}
        used = dict(
            Submission.objects.filter(
                phase__in=phases,
                participant=user,
                selected_for_final=True,
                disqualification__isnull=True,
            )
            .values_list("phase")
            .annotate(count=Count("pk"))
            .order_by()
        )
        # Disqualifications are the leaderboard's, above this app: read through the relation.
        disqualified = set(
            Submission.objects.filter(
                pk__in=[submission.pk for submission in applying],
                disqualification__isnull=False,
            ).values_list("pk", flat=True)
        )
    now = timezone.now()
    selections = {submission.pk: FinalSelection(applies=False) for submission in submissions}
    for submission in applying:
        selections[submission.pk] = FinalSelection(
            applies=True,
            selected=submission.selected_for_final,
            used=used.get(submission.phase_id, 0),
            limit=submission.phase.max_selected,
            open=now < submission.phase.ends_at,
            selectable=submission.status == Submission.Status.SCORED
            and submission.pk not in disqualified,
        )
    return selections


def inputs_wanted(challenge: Challenge) -> Inputs:
    """What the challenge gives a generator: a content image, or a content and a style image."""
    if challenge.task_kind == Challenge.TaskKind.ARBITRARY_STYLE:
        return Inputs.CONTENT_STYLE
    return Inputs.CONTENT


def architecture_notes(challenge: Challenge) -> list[dict[str, Any]]:
    """Each architecture the platform can load, and whether it fits this challenge's task:
    by the inputs it takes, or for a program or graph, by what it says it takes at upload."""
    wanted = inputs_wanted(challenge)
    return [
        {
            "name": entry.name,
            "description": entry.description,
            "takes_style": entry.inputs == Inputs.CONTENT_STYLE,
            "fits": entry.inputs == wanted or entry.program_format is not None,
        }
        for entry in architectures()
    ]
