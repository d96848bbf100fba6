"""The life of a submission, in one place: every change of its status, and the tasks that drive it.

    created ─▶ QUEUED ──claim──▶ RUNNING ──record──▶ SCORED
                 ▲                  │ ├──fail (the participant's fault)──▶ FAILED
                 │                  │ └──requeue_or_fail (ours), last attempt──▶ FAILED
                 └──requeue_or_fail─┘   (ours, attempts left; also the reaper's way back)
    QUEUED, RUNNING ──cancel──▶ CANCELLED          SCORED, FAILED ──rescore──▶ QUEUED

`submission_create` (services.py) makes a QUEUED row; everything after happens here, through
`_transition` (one conditional UPDATE per change) with entries made by `log_entry`. The
scoring work itself, which knows nothing of submissions, is `scoring.run.checkpoint_score`.

Exactly once, and never stranded:
- the claim is a conditional UPDATE (queued → running, attempt + 1), so a duplicate or
  redelivered task finds nothing to do; a running submission whose heartbeat stopped (its
  worker died) may be claimed again;
- every write afterwards is conditional on the claimed attempt still being the current one,
  so a worker that was given up on cannot overwrite the work of the one that took over;
- the participant's own faults (anything the runner reports about their checkpoint) fail the
  submission with its code and message; everything else (ours, or a phase set up with limits
  no worker can honour) is retried, and fails the submission with a stable code after the
  last attempt. No stored value makes the claim itself raise: a claim that raised would leave
  the submission queued, and the dispatcher would send it into the same failure forever;
- the beat's `reap` requeues (or fails) running submissions whose worker fell silent, and its
  `dispatch` sends again queued ones whose message was lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from typing import Any

from celery import shared_task
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from config.errors import refusal
from config.files import storage_local_path
from models.errors import ModelError
from models.loading import CheckpointSpec
from scoring import engine
from scoring.models import GalleryImage, Result
from scoring.run import Outcome, PhaseMisconfigured, checkpoint_score
from submissions import errors
from submissions.models import Submission
from submissions.notifications import notify_infrastructure_failure, notify_participant
from submissions.signals import submission_scored

logger = logging.getLogger(__name__)

Status = Submission.Status

INFRASTRUCTURE_FAILURE = (
    "Scoring failed {attempts} times for a reason on our side, not in your checkpoint; "
    "the organizers have been told. You can submit it again."
)
PHASE_MISCONFIGURED = (
    "Scoring failed {attempts} times because this phase is set up wrongly, not because of your "
    "checkpoint: {problem}. The organizers have been told; you can submit it again once they "
    "have fixed the phase."
)
INTERRUPTED = (
    "Scoring was interrupted {attempts} times on our side (a worker stopped answering); "
    "the organizers have been told. You can submit it again."
)

# How often progress (and the heartbeat) is written: at most once a second.
PROGRESS_INTERVAL_S = 1.0
# The longest span a setting or a phase may put between now and a deadline or a cut-off:
# anything longer is clamped, so that no stored value can make a claim, the reaper or the
# dispatcher raise OverflowError (datetime ends at year 9999) and strand what it was handling.
LONGEST_SPAN = dt.timedelta(days=366)
# Bounds on ATELIER_SCORING_MAX_ATTEMPTS: at least one attempt, or nothing could ever be
# claimed; at most what `Submission.attempts` (a small integer) can count.
MAX_ATTEMPTS_BOUNDS = (1, 100)
# The stage each status starts in, unless the transition names another.
STAGES = {
    Status.QUEUED: "queued",
    Status.RUNNING: "validating",
    Status.SCORED: "scored",
    Status.FAILED: "failed",
    Status.CANCELLED: "cancelled",
}
FINISHED = (Status.SCORED, Status.FAILED, Status.CANCELLED)


# --- The two primitives: a status change, a log entry -----------------------------------------


def _transition(rows: QuerySet[Submission], status: str, **fields: Any) -> bool:
    """Move the submissions `rows` selects to `status`: one conditional UPDATE, so `rows`
    names the state (and attempt) the change starts from. False if none was in it any more.

    Every change but the claim clears the deadline; finishing stamps `finished_at`.
    """
    fields.setdefault("stage", STAGES[status])
    if status != Status.RUNNING:
        fields.setdefault("deadline", None)
    if status in FINISHED:
        fields.setdefault("finished_at", timezone.now())
    return bool(rows.update(status=status, **fields))


def log_entry(step: str, *, at: dt.datetime | None = None, **details: Any) -> dict[str, Any]:
    """One entry of the organizer-only log: when, which step, and its details."""
    when = at or timezone.now()
    return {"at": when.isoformat(timespec="milliseconds"), "step": step, **details}


def submission_log(submission: Submission, step: str, **details: Any) -> None:
    """Append a step to the log (a single UPDATE, no read-modify-write race)."""
    submission.log = [*submission.log, log_entry(step, **details)]
    Submission.objects.filter(pk=submission.pk).update(log=submission.log)


def bounded_timedelta(seconds: float) -> dt.timedelta:
    """`seconds` as a timedelta, clamped to between zero and LONGEST_SPAN."""
    return dt.timedelta(seconds=min(max(seconds, 0), LONGEST_SPAN.total_seconds()))


def scoring_max_attempts() -> int:
    """How many attempts a submission gets: the setting, within MAX_ATTEMPTS_BOUNDS."""
    low, high = MAX_ATTEMPTS_BOUNDS
    return min(max(settings.ATELIER_SCORING_MAX_ATTEMPTS, low), high)


# --- Queued: sent to a scoring worker ---------------------------------------------------------


def submission_enqueue(*, submission_id: uuid.UUID) -> bool:
    """Send the scoring task to the challenge's queue; a broker that is down only delays it
    (the dispatcher retries)."""
    queue = (
        Submission.objects.filter(pk=submission_id)
        .values_list("phase__challenge__scoring_queue", flat=True)
        .first()
    )
    if queue is None:
        return False
    try:
        score.apply_async(args=[str(submission_id)], queue=queue)
    except Exception:  # kombu raises transport-specific errors when the broker is unreachable
        logger.exception(
            "could not enqueue submission %s; the dispatcher will retry", submission_id
        )
        return False
    Submission.objects.filter(pk=submission_id, status=Status.QUEUED).update(
        enqueued_at=timezone.now()
    )
    return True


def submissions_dispatch(*, now: dt.datetime | None = None) -> int:
    """Queued submissions with no task in flight (never sent, or sent long ago and lost with a
    broker restart) are enqueued again; a duplicate message is harmless, the claim decides."""
    now = now or timezone.now()
    overdue = now - bounded_timedelta(settings.ATELIER_DISPATCH_AFTER_S)
    waiting = Submission.objects.filter(status=Status.QUEUED).filter(
        Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=overdue)
    )
    sent = sum(
        submission_enqueue(submission_id=pk)
        for pk in waiting.order_by("created_at").values_list("pk", flat=True)
    )
    if sent:
        logger.info("dispatcher: enqueued %d submission(s) again", sent)
    return sent


# --- Running: claimed by one worker, one attempt at a time -----------------------------------


class Abandoned(Exception):
    """The claimed attempt is no longer current: cancelled, or taken over after a timeout."""


def submission_claim(*, submission_id: str, worker: str) -> Submission | None:
    """Take the submission for this worker: one conditional UPDATE, or None if not claimable.

    A queued submission is always claimable, whatever its attempts say (a lowered
    ATELIER_SCORING_MAX_ATTEMPTS must not strand it): the attempt it gets is then its last. A
    running one is taken over only when its worker fell silent and attempts remain (else the
    reaper fails it). Spans are clamped, so that no phase or setting makes the claim raise.
    """
    submission = Submission.objects.select_related("phase__challenge").filter(pk=submission_id)
    found = submission.first()
    if found is None:
        return None
    now = timezone.now()
    stale = now - bounded_timedelta(settings.ATELIER_HEARTBEAT_TIMEOUT_S)
    limit = found.phase.time_limit_s + settings.ATELIER_DEADLINE_GRACE_S
    claimable = Q(status=Status.QUEUED) | Q(
        status=Status.RUNNING, heartbeat_at__lt=stale, attempts__lt=scoring_max_attempts()
    )
    claimed = _transition(
        submission.filter(claimable),
        Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        heartbeat_at=now,
        deadline=now + bounded_timedelta(limit),
        worker=worker[:200],
        progress=0.0,
    )
    return submission.first() if claimed else None


class Attempt:
    """The claimed attempt: a heartbeat thread, throttled progress writes, the step log.

    The heartbeat runs in its own thread so that a long step (building references, training
    the judge, starting the runner) never looks like a dead worker; it stops when the attempt
    ends, and notices when the attempt was cancelled or given to another worker. An attempt is
    the `scoring.run.Progress` of its run.
    """

    def __init__(self, submission: Submission) -> None:
        self.submission_id = submission.pk
        self.number = submission.attempts
        self.last_write = 0.0
        self.steps: list[dict[str, Any]] = []
        self._lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def __enter__(self) -> Attempt:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def current(self) -> QuerySet[Submission]:
        """The submission, as long as this attempt is the one running it."""
        return Submission.objects.filter(
            pk=self.submission_id, status=Status.RUNNING, attempts=self.number
        )

    def _beat(self) -> None:
        interval = bounded_timedelta(settings.ATELIER_HEARTBEAT_TIMEOUT_S).total_seconds() / 4
        try:
            while not self._done.wait(interval):
                if not self.current().update(heartbeat_at=timezone.now()):
                    self._lost.set()
                    return
        except Exception:  # the database is away; the main thread will find out too
            logger.exception("heartbeat of submission %s failed", self.submission_id)
        finally:
            connection.close()

    def check(self) -> None:
        """Stop working on an attempt that is no longer ours."""
        if self._lost.is_set():
            raise Abandoned

    def progress(self, stage: str, fraction: float, *, force: bool = False) -> None:
        self.check()
        now = time.perf_counter()
        if not force and now - self.last_write < PROGRESS_INTERVAL_S:
            return
        self.last_write = now
        updated = self.current().update(
            stage=stage[:100], progress=min(max(fraction, 0.0), 1.0), heartbeat_at=timezone.now()
        )
        if not updated:
            raise Abandoned

    def step(self, name: str, started: float, **details: Any) -> None:
        self.steps.append(
            {"step": name, "seconds": round(time.perf_counter() - started, 3), **details}
        )


def submission_score(*, submission_id: str, worker: str) -> str:
    """Score one submission if it can be claimed; returns what happened, for the task log."""
    submission = submission_claim(submission_id=submission_id, worker=worker)
    if submission is None:
        return "not claimable"
    # Bound before the `try`: the handlers below need it even when its thread fails to start.
    attempt = Attempt(submission)
    try:
        with attempt:
            outcome = _run(submission, attempt)
            submission_record(submission, attempt, outcome)
    except Abandoned:
        logger.info("submission %s was cancelled or taken over", submission_id)
        return "abandoned"
    except ModelError as error:
        submission_fail(
            submission, attempt, code=str(error.code), message=error.message, detail=error.detail
        )
        return f"failed: {error.code}"
    except PhaseMisconfigured as error:
        logger.error("submission %s cannot be scored: %s", submission_id, error.problem)
        message = PHASE_MISCONFIGURED.format(attempts=attempt.number, problem=error.problem)
        return _not_theirs(submission, attempt, error, code="phase_misconfigured", message=message)
    except Exception as error:
        logger.exception("scoring submission %s failed on our side", submission_id)
        message = INFRASTRUCTURE_FAILURE.format(attempts=attempt.number)
        return _not_theirs(submission, attempt, error, code="scoring_error", message=message)
    return "scored"


def _run(submission: Submission, attempt: Attempt) -> Outcome:
    with storage_local_path(submission.checkpoint.name) as path:
        return checkpoint_score(
            phase=submission.phase,
            checkpoint=CheckpointSpec(
                path=path,
                architecture=submission.architecture,
                config=submission.config,
                io_range=submission.io_range,
            ),
            param_count=submission.param_count,
            progress=attempt,
        )


# --- Finished: scored, failed, or back to the queue -------------------------------------------


def submission_record(submission: Submission, attempt: Attempt, outcome: Outcome) -> None:
    """Results, gallery and `scored` together, if this attempt is still the current one."""
    attempt.progress("ranking", 0.98, force=True)
    names = [
        default_storage.save(
            f"submissions/{submission.pk}/gallery/{position}.png", ContentFile(png)
        )
        for position, (_, _, png) in enumerate(outcome.gallery)
    ]
    try:
        with transaction.atomic():
            locked = attempt.current().select_for_update().first()
            if locked is None:
                raise Abandoned
            old_gallery = _gallery_replace(locked, outcome, names)
            for leaderboard, result in outcome.results.items():
                _result_write(locked, leaderboard, result)
            first = next(iter(outcome.results.values()))
            _transition(
                attempt.current(),
                Status.SCORED,
                progress=1.0,
                scoring_fingerprint=first.fingerprint.as_dict(),
                log=[*locked.log, *attempt.steps, log_entry("scored", attempt=attempt.number)],
            )
            transaction.on_commit(
                lambda: [default_storage.delete(n) for n in old_gallery], robust=True
            )
            transaction.on_commit(
                lambda: submission_scored.send(Submission, submission_id=submission.pk),
                robust=True,
            )
            transaction.on_commit(
                lambda: notify_participant(submission_id=submission.pk), robust=True
            )
    except BaseException:
        for name in names:
            default_storage.delete(name)
        raise


def _gallery_replace(submission: Submission, outcome: Outcome, names: list[str]) -> list[str]:
    """The new gallery rows in place of the old ones; returns the old files' names."""
    old = list(submission.gallery.values_list("file", flat=True))
    submission.gallery.all().delete()
    for position, ((photo, style, _), name) in enumerate(zip(outcome.gallery, names, strict=True)):
        GalleryImage.objects.create(
            submission=submission,
            position=position,
            content_image=photo,
            style_image=style,
            file=name,
        )
    return old


def _result_write(submission: Submission, leaderboard: str, result: engine.ScoreResult) -> None:
    Result.objects.update_or_create(
        submission=submission,
        leaderboard=leaderboard,
        defaults={
            **result.metrics,
            "missing": result.missing,
            "per_image": result.per_image,
            "intervals": engine.bootstrap_intervals(
                result.per_image, {"composite": result.composite_from}
            ),
            "fingerprint": result.as_dict(),
            "judge_sha256": result.judge_sha256 or "",
            "references_key": result.references_key,
            "images": result.images,
            "calibrated": result.fingerprint.calibrated,
            "stale": False,
        },
    )


def submission_fail(
    submission: Submission, attempt: Attempt, *, code: str, message: str, detail: str = ""
) -> None:
    """The participant's fault: fail with their code and message (the detail is ours)."""
    entry = log_entry("failed", code=code, detail=detail[:2000])
    failed = _transition(
        attempt.current(),
        Status.FAILED,
        error_code=code[:50],
        error_message=message,
        log=[*submission.log, *attempt.steps, entry],
    )
    if failed:
        notify_participant(submission_id=submission.pk)


def _not_theirs(
    submission: Submission, attempt: Attempt, error: Exception, *, code: str, message: str
) -> str:
    """Ours or the phase's, not the participant's: back to the queue (sent again by the
    dispatcher's next round, after a pause that gives a restarting database or broker time to
    come back), or failed with `code` and `message` after the last attempt."""
    entry = log_entry("error", attempt=attempt.number, code=code, error=repr(error)[:2000])
    outcome = submission_requeue_or_fail(
        submission=submission,
        code=code,
        message=message,
        log=[*submission.log, *attempt.steps, entry],
        error=repr(error),
    )
    return f"failed: {code}" if outcome == "failed" else outcome


def submission_requeue_or_fail(
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
    same_attempt = Submission.objects.filter(
        pk=submission.pk, status=Status.RUNNING, attempts=submission.attempts
    )
    if submission.attempts < scoring_max_attempts():
        requeued = _transition(
            same_attempt, Status.QUEUED, heartbeat_at=None, enqueued_at=None, log=log
        )
        if not requeued:
            return "abandoned"
        if enqueue:
            submission_enqueue(submission_id=submission.pk)
        return "requeued"
    failed = _transition(
        same_attempt,
        Status.FAILED,
        error_code=code[:50],
        error_message=message,
        finished_at=now or timezone.now(),
        log=log,
    )
    if not failed:
        return "abandoned"
    notify_participant(submission_id=submission.pk)
    notify_infrastructure_failure(submission_id=submission.pk, error=error)
    return "failed"


def submissions_reap(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Running submissions whose worker is gone (heartbeat stopped, or past the deadline):
    back to the queue while attempts remain, else failed with the reason."""
    now = now or timezone.now()
    stale = now - bounded_timedelta(settings.ATELIER_HEARTBEAT_TIMEOUT_S)
    lost = Submission.objects.filter(status=Status.RUNNING).filter(
        Q(heartbeat_at__lt=stale) | Q(deadline__lt=now) | Q(heartbeat_at__isnull=True)
    )
    counts = {"requeued": 0, "failed": 0}
    for submission in lost:
        entry = log_entry("reaped", at=now, worker=submission.worker, attempt=submission.attempts)
        outcome = submission_requeue_or_fail(
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


# --- An organizer's or participant's hand: cancel, rescore ------------------------------------


@transaction.atomic
def submission_cancel(*, submission: Submission, by: AbstractBaseUser) -> Submission:
    """Cancel a queued or running submission; a worker running it stops at its next step."""
    active = Submission.objects.filter(pk=submission.pk, status__in=Submission.ACTIVE_STATUSES)
    cancelled = _transition(active, Status.CANCELLED)
    submission.refresh_from_db()
    if not cancelled:
        raise refusal(errors.NOT_CANCELLABLE, status=submission.get_status_display().lower())
    submission_log(submission, "cancelled", by=by.get_username())
    return submission


def submission_rescore(*, submission: Submission, by: AbstractBaseUser) -> Submission:
    """Score a finished submission again (say, after the judge was retrained).

    Its current results stay in place, and on the leaderboard, until the new ones replace them
    in the scoring transaction.
    """
    finished = Submission.objects.filter(
        pk=submission.pk, status__in=(Status.SCORED, Status.FAILED)
    )
    queued = _transition(
        finished,
        Status.QUEUED,
        stage="queued for rescoring",
        progress=0.0,
        attempts=0,
        error_code="",
        error_message="",
        enqueued_at=None,
        heartbeat_at=None,
    )
    submission.refresh_from_db()
    if not queued:
        raise refusal(errors.RESCORE_NOT_FINISHED, status=submission.get_status_display().lower())
    submission_log(submission, "rescore requested", by=by.get_username())
    transaction.on_commit(lambda: submission_enqueue(submission_id=submission.pk), robust=True)
    return submission


# --- The tasks that drive it (thin: call the service) -----------------------------------------


@shared_task(name="submissions.lifecycle.score", bind=True)
def score(self, submission_id: str) -> str:  # type: ignore[no-untyped-def]
    """On the `scoring` queue: claim and score one submission."""
    return submission_score(submission_id=submission_id, worker=self.request.hostname)


@shared_task(name="submissions.lifecycle.reap")
def reap() -> dict[str, int]:
    """Beat, on the default queue: requeue or fail running submissions whose worker is gone."""
    return submissions_reap()


@shared_task(name="submissions.lifecycle.dispatch")
def dispatch() -> int:
    """Beat, on the default queue: send again queued submissions whose message was lost."""
    return submissions_dispatch()
