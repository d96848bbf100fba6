"""Writes for submissions: create (quota-checked, validated), enqueue, cancel."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from competitions.models import Challenge, Participation, Phase
from competitions.selectors import user_organizes
from config.errors import ApplicationError
from config.files import files_removed_on_failure
from models.architectures import Inputs
from models.checkpoints import SUFFIXES, CheckpointLimits
from models.errors import WRONG_RESOLUTION, ModelError
from models.loading import CheckpointInfo, CheckpointSpec
from models.onnx_graph import OnnxLimits
from models.runner import ValidationLimits, validate_in_child
from submissions.models import Submission
from submissions.selectors import QuotaUsage, quota_usage

logger = logging.getLogger(__name__)

NOT_PUBLISHED = "This challenge is not open for submissions."
NO_OPEN_PHASE = "No phase of this challenge is open for submissions right now."
PHASE_NOT_OPEN = "The phase “{phase}” is not open for submissions."
UNKNOWN_PHASE = "This challenge has no phase called “{phase}”."
NOT_PARTICIPANT = "Join the challenge and accept its rules before submitting."
PENDING = "Your participation is waiting for an organizer's approval."
BANNED = "You cannot submit to this challenge."
BASELINE_ORGANIZERS_ONLY = "Only the challenge's organizers can submit baselines."
QUOTA_RUNNING = (
    "You already have {running} submission(s) queued or running, the most this phase allows "
    "at once; wait for one to finish or cancel it."
)
QUOTA_DAILY = (
    "You have used all {limit} submissions of the last 24 hours; the next one is possible "
    "from {when:%Y-%m-%d %H:%M} UTC."
)
QUOTA_TOTAL = "You have used all {limit} submissions this phase allows."
WRONG_INPUTS_SINGLE = (
    "This challenge gives generators a content image only, but this checkpoint takes a "
    "content and a style image."
)
WRONG_INPUTS_ARBITRARY = (
    "This challenge gives generators a content and a style image, but this checkpoint takes "
    "a content image only."
)
NOT_CANCELLABLE = "Only queued or running submissions can be cancelled; this one is {status}."


def submission_create(
    *,
    user: AbstractBaseUser,
    challenge: Challenge,
    checkpoint_path: Path,
    checkpoint_name: str,
    architecture: str,
    phase_name: str | None = None,
    config: dict[str, Any] | None = None,
    io_range: str | None = None,
    description: str = "",
    is_baseline: bool = False,
) -> Submission:
    """Accept a checkpoint as a submission, or explain why not; queue it once it is stored.

    Cheap checks come first, then the checkpoint is validated (format, architecture, keys,
    parameter count) without running it, then the file is stored and the quota is checked
    again under a lock in the same transaction as the insert, so concurrent requests can never
    exceed it. Nothing is left behind when any step refuses.
    """
    phase = _phase_for(challenge=challenge, phase_name=phase_name)
    participation = _may_submit(user=user, challenge=challenge, is_baseline=is_baseline)
    if not is_baseline:
        _check_quota(quota_usage(participant=user, phase=phase))
    info = _validate(
        challenge=challenge,
        phase=phase,
        spec=CheckpointSpec(
            path=checkpoint_path, architecture=architecture, config=config, io_range=io_range
        ),
    )
    submission_id = uuid.uuid4()
    # Named by the format its bytes show, not by the participant's file name (a published
    # state dict may end in .model, .ckpt, .bin or nothing).
    suffix = SUFFIXES[info.format]
    with files_removed_on_failure() as written:
        with checkpoint_path.open("rb") as handle:
            stored = default_storage.save(
                f"submissions/{submission_id}/checkpoint{suffix}", File(handle)
            )
        written.append(stored)
        with transaction.atomic():
            if not is_baseline:
                # Serialise this participant's submissions: on PostgreSQL by locking their
                # participation row; SQLite takes its write lock when the transaction begins.
                Participation.objects.select_for_update().filter(pk=participation.pk).first()
                _check_quota(quota_usage(participant=user, phase=phase))
            submission = Submission(
                id=submission_id,
                phase=phase,
                participant=user,
                description=description[:500],
                is_baseline=is_baseline,
                architecture=info.architecture,
                config=info.config,
                io_range=str(info.io_range),
                checkpoint=stored,
                checkpoint_name=Path(checkpoint_name).name[:255],
                checkpoint_format=str(info.format),
                checkpoint_sha256=info.sha256,
                checkpoint_size=info.size_bytes,
                param_count=info.param_count,
                stage="queued",
            )
            submission.full_clean(exclude=["checkpoint"])
            submission.save(force_insert=True)
            submission_log(submission, "accepted", size=info.size_bytes, params=info.param_count)
            transaction.on_commit(
                lambda: submission_enqueue(submission_id=submission_id), robust=True
            )
    logger.info("submission %s accepted for %s/%s", submission_id, challenge.slug, phase.name)
    return submission


def _phase_for(*, challenge: Challenge, phase_name: str | None) -> Phase:
    if challenge.status != Challenge.Status.PUBLISHED:
        raise ApplicationError("challenge_closed", NOT_PUBLISHED)
    now = timezone.now()
    if phase_name:
        phase = challenge.phases.filter(name=phase_name).first()
        if phase is None:
            raise ApplicationError("unknown_phase", UNKNOWN_PHASE.format(phase=phase_name))
        if not phase.is_open(now):
            raise ApplicationError("phase_closed", PHASE_NOT_OPEN.format(phase=phase.name))
        return phase
    phase = challenge.phases.filter(starts_at__lte=now, ends_at__gt=now).order_by("starts_at")
    found = phase.last()
    if found is None:
        raise ApplicationError("phase_closed", NO_OPEN_PHASE)
    return found


def _may_submit(
    *, user: AbstractBaseUser, challenge: Challenge, is_baseline: bool
) -> Participation | None:
    if is_baseline:
        if not user_organizes(user, challenge):
            raise ApplicationError("baseline_forbidden", BASELINE_ORGANIZERS_ONLY)
        return None
    participation = Participation.objects.filter(user=user, challenge=challenge).first()
    if participation is None:
        raise ApplicationError("not_a_participant", NOT_PARTICIPANT)
    if participation.status == Participation.Status.PENDING:
        raise ApplicationError("participation_pending", PENDING)
    if participation.status != Participation.Status.APPROVED:
        raise ApplicationError("participation_refused", BANNED)
    return participation


def _check_quota(usage: QuotaUsage) -> None:
    if usage.running_left == 0:
        raise ApplicationError("quota_running", QUOTA_RUNNING.format(running=usage.running))
    if usage.total_left == 0:
        raise ApplicationError("quota_total", QUOTA_TOTAL.format(limit=usage.total_limit))
    if usage.daily_left == 0:
        when = usage.next_daily_slot_at or timezone.now()
        raise ApplicationError(
            "quota_daily",
            QUOTA_DAILY.format(limit=usage.daily_limit, when=when.astimezone(dt.UTC)),
        )


def checkpoint_limits(phase: Phase) -> CheckpointLimits:
    """What a checkpoint submitted to `phase` may be: the phase's size and parameter limits,
    the settings' bounds on ONNX graphs."""
    return CheckpointLimits(
        max_bytes=phase.max_checkpoint_bytes,
        max_params=phase.max_params,
        onnx=OnnxLimits(
            max_nodes=settings.ATELIER_ONNX_MAX_NODES,
            max_initializers=settings.ATELIER_ONNX_MAX_INITIALIZERS,
        ),
    )


def _validate(*, challenge: Challenge, phase: Phase, spec: CheckpointSpec) -> CheckpointInfo:
    limits = ValidationLimits(
        time_limit_s=settings.ATELIER_VALIDATION_TIME_LIMIT_S,
        memory_limit_bytes=settings.ATELIER_VALIDATION_MEMORY_LIMIT_MB * 2**20,
        checkpoint=checkpoint_limits(phase),
    )
    try:
        # In a child process: this one never parses the participant's file. The format is read
        # from the file's bytes, whatever the participant called it.
        info = validate_in_child(spec, limits)
    except ModelError as error:
        raise ApplicationError(str(error.code), error.message) from error
    wants_style = challenge.task_kind == Challenge.TaskKind.ARBITRARY_STYLE
    if wants_style and info.inputs != Inputs.CONTENT_STYLE:
        raise ApplicationError("wrong_inputs", WRONG_INPUTS_ARBITRARY)
    if not wants_style and info.inputs != Inputs.CONTENT:
        raise ApplicationError("wrong_inputs", WRONG_INPUTS_SINGLE)
    # A graph exported at a fixed size can only take images of that size.
    size = info.config.get("size")
    if isinstance(size, list) and list(size) != [challenge.resolution, challenge.resolution]:
        found, expected = "×".join(map(str, size)), f"{challenge.resolution}×{challenge.resolution}"
        message = WRONG_RESOLUTION.format(found=found, expected=expected)
        raise ApplicationError("bad_input_signature", message)
    return info


def submission_log(submission: Submission, step: str, **details: Any) -> None:
    """Append a step to the organizer-only log (a single UPDATE, no read-modify-write race)."""
    entry = {"at": timezone.now().isoformat(timespec="milliseconds"), "step": step, **details}
    submission.log = [*submission.log, entry]
    Submission.objects.filter(pk=submission.pk).update(log=submission.log)


def submission_enqueue(*, submission_id: uuid.UUID) -> bool:
    """Send the scoring task; a broker that is down only delays it (the dispatcher retries)."""
    from scoring.tasks import submission_score

    try:
        submission_score.apply_async(args=[str(submission_id)], queue="scoring")
    except Exception:  # kombu raises transport-specific errors when the broker is unreachable
        logger.exception(
            "could not enqueue submission %s; the dispatcher will retry", submission_id
        )
        return False
    Submission.objects.filter(pk=submission_id, status=Submission.Status.QUEUED).update(
        enqueued_at=timezone.now()
    )
    return True


@transaction.atomic
def submission_cancel(*, submission: Submission, by: AbstractBaseUser) -> Submission:
    """Cancel a queued or running submission; a worker running it stops at its next step."""
    updated = Submission.objects.filter(
        pk=submission.pk, status__in=Submission.ACTIVE_STATUSES
    ).update(
        status=Submission.Status.CANCELLED,
        stage="cancelled",
        finished_at=timezone.now(),
        deadline=None,
    )
    submission.refresh_from_db()
    if not updated:
        raise ApplicationError(
            "not_cancellable",
            NOT_CANCELLABLE.format(status=submission.get_status_display().lower()),
        )
    submission_log(submission, "cancelled", by=by.get_username())
    return submission


INTERRUPTED = (
    "Scoring was interrupted {attempts} times on our side (a worker stopped answering); "
    "the organizers have been told. You can submit it again."
)
# The longest span a setting or a phase may put between now and a deadline or a cut-off:
# anything longer is clamped, so that no stored value can make a claim, the reaper or the
# dispatcher raise OverflowError (datetime ends at year 9999) and strand what it was handling.
LONGEST_SPAN = dt.timedelta(days=366)
# Bounds on ATELIER_SCORING_MAX_ATTEMPTS: at least one attempt, or nothing could ever be
# claimed; at most what `Submission.attempts` (a small integer) can count.
MAX_ATTEMPTS_BOUNDS = (1, 100)


def bounded_timedelta(seconds: float) -> dt.timedelta:
    """`seconds` as a timedelta, clamped to between zero and LONGEST_SPAN."""
    return dt.timedelta(seconds=min(max(seconds, 0), LONGEST_SPAN.total_seconds()))


def scoring_max_attempts() -> int:
    """How many attempts a submission gets: the setting, within MAX_ATTEMPTS_BOUNDS."""
    low, high = MAX_ATTEMPTS_BOUNDS
    return min(max(settings.ATELIER_SCORING_MAX_ATTEMPTS, low), high)


def submission_attempt_failed(
    *,
    submission: Submission,
    code: str,
    message: str,
    log: list[dict[str, Any]],
    error: str,
    now: dt.datetime | None = None,
    enqueue: bool = False,
) -> str:
    """The running attempt `submission` holds ended for a reason that is not the participant's
    (the platform's or the phase's): back to the queue while attempts remain, else failed with
    `code` and `message`, the participant and the organizers told.

    Only that attempt is touched (still running, same attempt number). Returns "requeued",
    "failed", or "abandoned" when a cancel, the reaper or another worker got there first.
    Requeued, it is sent again now if `enqueue`, else by the dispatcher's next round.
    """
    from submissions.notifications import notify_infrastructure_failure, notify_participant

    now = now or timezone.now()
    same_attempt = Submission.objects.filter(
        pk=submission.pk, status=Submission.Status.RUNNING, attempts=submission.attempts
    )
    if submission.attempts < scoring_max_attempts():
        if not same_attempt.update(
            status=Submission.Status.QUEUED, stage="queued", heartbeat_at=None,
            deadline=None, enqueued_at=None, log=log,
        ):  # fmt: skip
            return "abandoned"
        if enqueue:
            submission_enqueue(submission_id=submission.pk)
        return "requeued"
    if not same_attempt.update(
        status=Submission.Status.FAILED, stage="failed", error_code=code[:50],
        error_message=message, finished_at=now, deadline=None, log=log,
    ):  # fmt: skip
        return "abandoned"
    notify_participant(submission_id=submission.pk)
    notify_infrastructure_failure(submission_id=submission.pk, error=error)
    return "failed"


def submissions_reap(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Running submissions whose worker is gone (heartbeat stopped, or past the deadline):
    back to the queue while attempts remain, else failed with the reason."""
    now = now or timezone.now()
    stale = now - bounded_timedelta(settings.ATELIER_HEARTBEAT_TIMEOUT_S)
    lost = Submission.objects.filter(status=Submission.Status.RUNNING).filter(
        Q(heartbeat_at__lt=stale) | Q(deadline__lt=now) | Q(heartbeat_at__isnull=True)
    )
    counts = {"requeued": 0, "failed": 0}
    for submission in lost:
        entry = {
            "at": now.isoformat(timespec="milliseconds"),
            "step": "reaped",
            "worker": submission.worker,
            "attempt": submission.attempts,
        }
        outcome = submission_attempt_failed(
            submission=submission,
            code="scoring_interrupted",
            message=INTERRUPTED.format(attempts=submission.attempts),
            log=[*submission.log, entry],
            error="worker lost",
            now=now,
            enqueue=True,
        )
        if outcome in counts:
            counts[outcome] += 1
    if any(counts.values()):
        logger.warning("reaper: %s", counts)
    return counts


def submissions_dispatch(*, now: dt.datetime | None = None) -> int:
    """Queued submissions with no task in flight (never sent, or sent long ago and lost with a
    broker restart) are enqueued again; a duplicate message is harmless, the claim decides."""
    now = now or timezone.now()
    overdue = now - bounded_timedelta(settings.ATELIER_DISPATCH_AFTER_S)
    waiting = Submission.objects.filter(status=Submission.Status.QUEUED).filter(
        Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=overdue)
    )
    sent = sum(
        submission_enqueue(submission_id=pk)
        for pk in waiting.order_by("created_at").values_list("pk", flat=True)
    )
    if sent:
        logger.info("dispatcher: enqueued %d submission(s) again", sent)
    return sent


RESCORE_NOT_FINISHED = "Only finished submissions can be rescored; this one is {status}."


def submission_rescore(*, submission: Submission, by: AbstractBaseUser) -> Submission:
    """Score a finished submission again (say, after the judge was retrained).

    Its current results stay in place, and on the leaderboard, until the new ones replace them
    in the scoring transaction.
    """
    updated = Submission.objects.filter(
        pk=submission.pk, status__in=(Submission.Status.SCORED, Submission.Status.FAILED)
    ).update(
        status=Submission.Status.QUEUED,
        stage="queued for rescoring",
        progress=0.0,
        attempts=0,
        error_code="",
        error_message="",
        enqueued_at=None,
        heartbeat_at=None,
        deadline=None,
    )
    submission.refresh_from_db()
    if not updated:
        raise ApplicationError(
            "not_rescorable",
            RESCORE_NOT_FINISHED.format(status=submission.get_status_display().lower()),
        )
    submission_log(submission, "rescore requested", by=by.get_username())
    transaction.on_commit(lambda: submission_enqueue(submission_id=submission.pk), robust=True)
    return submission
