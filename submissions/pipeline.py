"""Scoring one submission: claim it, run its generator, score the outputs, record the result.

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
  the submission queued, and the dispatcher would send it into the same failure forever.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from competitions.models import Challenge, ChallengeImage, Phase
from leaderboard.services import leaderboard_submission_update
from models.errors import ModelError
from models.loading import CheckpointSpec
from models.runner import RunLimits, RunStats, run_generator
from scoring import engine
from scoring.models import GalleryImage, Result
from scoring.services import (
    BoardRun,
    board_scorers,
    images_load,
    judge_train,
    metric_network,
    scoring_profile_get,
)
from submissions.models import Submission
from submissions.notifications import notify_participant
from submissions.services import (
    bounded_timedelta,
    checkpoint_limits,
    scoring_max_attempts,
    submission_attempt_failed,
)

logger = logging.getLogger(__name__)

INFRASTRUCTURE_FAILURE = (
    "Scoring failed {attempts} times for a reason on our side, not in your checkpoint; "
    "the organizers have been told. You can submit it again."
)
PHASE_MISCONFIGURED = (
    "Scoring failed {attempts} times because this phase is set up wrongly, not because of your "
    "checkpoint: {problem}. The organizers have been told; you can submit it again once they "
    "have fixed the phase."
)
TIME_LIMIT_OUT_OF_RANGE = (
    "its time limit of {limit} s is outside the {low}–{high} s a scoring worker can honour"
)
# The generator's time limits a worker can honour. The runner waits for its child with poll(),
# whose timeout in milliseconds must fit a C int (about 24.8 days); a week is far longer than
# any generator should run, and safely inside that.
TIME_LIMIT_BOUNDS_S = (1, 7 * 24 * 3600)
# How often progress (and the heartbeat) is written: at most once a second.
PROGRESS_INTERVAL_S = 1.0


class Abandoned(Exception):
    """The claimed attempt is no longer current: cancelled, or taken over after a timeout."""


class PhaseMisconfigured(Exception):
    """The phase asks for something no worker can do: the organizers' to fix, not the
    participant's."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def submission_score(*, submission_id: str, worker: str) -> str:
    """Score one submission if it can be claimed; returns what happened, for the task log."""
    submission = submission_claim(submission_id=submission_id, worker=worker)
    if submission is None:
        return "not claimable"
    # Bound before the `try`: the handlers below need it even when its thread fails to start.
    attempt = Attempt(submission)
    try:
        with attempt:
            outcome = _score(submission, attempt)
            _record(submission, attempt, outcome)
    except Abandoned:
        logger.info("submission %s was cancelled or taken over", submission_id)
        return "abandoned"
    except ModelError as error:
        _fail(submission, attempt, code=str(error.code), message=error.message, detail=error.detail)
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
    claimable = Q(status=Submission.Status.QUEUED) | Q(
        status=Submission.Status.RUNNING,
        heartbeat_at__lt=stale,
        attempts__lt=scoring_max_attempts(),
    )
    claimed = submission.filter(claimable).update(
        status=Submission.Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        heartbeat_at=now,
        deadline=now + bounded_timedelta(limit),
        worker=worker[:200],
        stage="validating",
        progress=0.0,
    )
    return submission.first() if claimed else None


class Attempt:
    """The claimed attempt: a heartbeat thread, throttled progress writes, the step log.

    The heartbeat runs in its own thread so that a long step (building references, training
    the judge, starting the runner) never looks like a dead worker; it stops when the attempt
    ends, and notices when the attempt was cancelled or given to another worker.
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

    def current(self) -> Any:
        return Submission.objects.filter(
            pk=self.submission_id, status=Submission.Status.RUNNING, attempts=self.number
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


@dataclass
class Outcome:
    results: dict[str, engine.ScoreResult]
    gallery: list[tuple[ChallengeImage, ChallengeImage | None, bytes]] = field(default_factory=list)


def _score(submission: Submission, attempt: Attempt) -> Outcome:
    """Prepare the references, run the generator and score its outputs as they stream in."""
    challenge: Challenge = submission.phase.challenge
    time_limit_s = _time_limit_s(submission.phase)
    runs = _prepare(challenge, attempt)
    gallery = _gallery_images(challenge, scoring_profile_get(challenge=challenge).gallery_size)
    plan = _plan(runs, gallery)
    outcome = Outcome(results={})
    started = time.perf_counter()
    stats = RunStats()
    done, before = 0, 0.0
    with _local_checkpoint(submission) as path:
        outputs_stream = run_generator(
            CheckpointSpec(
                path=path,
                architecture=submission.architecture,
                config=submission.config,
                io_range=submission.io_range,
            ),
            *_batches(challenge, plan),
            limits=RunLimits(
                time_limit_s=time_limit_s,
                memory_limit_bytes=settings.ATELIER_GENERATOR_MEMORY_BYTES,
                device=settings.ATELIER_SCORING_DEVICE,
                checkpoint=checkpoint_limits(submission.phase),
            ),
            stats=stats,
        )
        for outputs in outputs_stream:
            rows = plan[done : done + outputs.shape[0]]
            _score_rows(runs, rows, outputs, stats.forward_seconds - before, outcome)
            before = stats.forward_seconds
            done += outputs.shape[0]
            attempt.progress(f"generating {done}/{len(plan)}", 0.9 * done / len(plan))
    attempt.step("generated and scored", started, device=stats.device, images=len(plan))
    attempt.progress("scoring", 0.95, force=True)
    for run in runs:
        outcome.results[run.board.leaderboard] = run.scorer.finish(
            generator_seconds=run.seconds, params=submission.param_count
        )
    return outcome


def _time_limit_s(phase: Phase) -> int:
    """The phase's time limit, checked before any work: the database may hold one (imported,
    or written before the model had bounds) that no worker can honour."""
    low, high = TIME_LIMIT_BOUNDS_S
    if not low <= phase.time_limit_s <= high:
        raise PhaseMisconfigured(
            TIME_LIMIT_OUT_OF_RANGE.format(limit=phase.time_limit_s, low=low, high=high)
        )
    return phase.time_limit_s


def _prepare(challenge: Challenge, attempt: Attempt) -> list[BoardRun]:
    """The metric network, the judge (trained first if there is none) and both boards' caches."""
    device = settings.ATELIER_SCORING_DEVICE
    profile = scoring_profile_get(challenge=challenge)
    started = time.perf_counter()
    attempt.progress("preparing references", 0.0, force=True)
    network = metric_network(device)
    # A failed judge stays failed until an organizer retrains or replaces it.
    if profile.judge_status != profile.JudgeStatus.FAILED and not profile.judge_file:
        attempt.progress("training the judge", 0.0, force=True)
        profile = judge_train(challenge=challenge, device=device, heartbeat=attempt.check)
        attempt.step("judge trained", started, status=profile.judge_status)
    runs = board_scorers(challenge=challenge, network=network, device=device, check=attempt.check)
    attempt.step("references ready", started)
    return runs


def _batches(
    challenge: Challenge, plan: list
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    size = settings.ATELIER_SCORING_BATCH_SIZE
    content = images_load([image for image, _, _ in plan])
    if challenge.task_kind != Challenge.TaskKind.ARBITRARY_STYLE:
        return list(torch.split(content, size)), None
    style = images_load([style for _, style, _ in plan])
    return list(torch.split(content, size)), list(torch.split(style, size))


@contextmanager
def _local_checkpoint(submission: Submission) -> Iterator[Path]:
    """The checkpoint as a local file: in place on disk storage, else a temporary copy."""
    try:
        yield Path(default_storage.path(submission.checkpoint.name))
        return
    except NotImplementedError:
        pass  # object storage has no local path
    suffix = Path(submission.checkpoint.name).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as copy:
        with default_storage.open(submission.checkpoint.name, "rb") as source:
            shutil.copyfileobj(source, copy)
        copy.flush()
        yield Path(copy.name)


def _gallery_images(challenge: Challenge, size: int) -> list[tuple[ChallengeImage, Any]]:
    photos = list(
        challenge.images.filter(
            kind=ChallengeImage.Kind.CONTENT, split=ChallengeImage.Split.PUBLIC
        ).order_by("sha256")[:size]
    )
    styles = list(
        challenge.images.filter(
            kind=ChallengeImage.Kind.STYLE, split=ChallengeImage.Split.PUBLIC
        ).order_by("sha256")
    )
    return [(photo, styles[index % len(styles)] if styles else None)
            for index, photo in enumerate(photos)]  # fmt: skip


def _plan(
    runs: list[BoardRun], gallery: list[tuple[ChallengeImage, Any]]
) -> list[tuple[ChallengeImage, ChallengeImage | None, tuple[str, int]]]:
    """Every image the generator sees, with where its output goes: (board, index) or gallery."""
    plan = []
    for run in runs:
        board = run.board
        for index, image in enumerate(board.content):
            style = board.styles[board.style_pairing[index]] if board.style_pairing else None
            plan.append((image, style, (board.leaderboard, index)))
    for position, (photo, style) in enumerate(gallery):
        plan.append((photo, style, ("gallery", position)))
    return plan


def _score_rows(
    runs: list[BoardRun], rows: list, outputs: torch.Tensor, seconds: float, outcome: Outcome
) -> None:
    """Hand each output to its board's scorer or to the gallery; time is shared per image."""
    per_image = seconds / max(len(rows), 1)
    for run in runs:
        picked = [i for i, (_, _, (where, _)) in enumerate(rows) if where == run.board.leaderboard]
        if picked:
            run.scorer.update([rows[i][2][1] for i in picked], outputs[picked])
            run.seconds += per_image * len(picked)
    for i, (photo, style, (where, _)) in enumerate(rows):
        if where == "gallery":
            outcome.gallery.append((photo, style, engine.png_encode(outputs[i])))


def _record(submission: Submission, attempt: Attempt, outcome: Outcome) -> None:
    """Results, gallery and `scored` together, if this attempt is still the current one."""
    attempt.progress("ranking", 0.98, force=True)
    names = [
        default_storage.save(f"submissions/{submission.pk}/gallery/{position}.png",
                             ContentFile(png))
        for position, (_, _, png) in enumerate(outcome.gallery)
    ]  # fmt: skip
    try:
        with transaction.atomic():
            locked = attempt.current().select_for_update().first()
            if locked is None:
                raise Abandoned
            old_gallery = list(locked.gallery.values_list("file", flat=True))
            locked.gallery.all().delete()
            for position, ((photo, style, _), name) in enumerate(
                zip(outcome.gallery, names, strict=True)
            ):
                GalleryImage.objects.create(
                    submission=locked, position=position, content_image=photo,
                    style_image=style, file=name,
                )  # fmt: skip
            for leaderboard, result in outcome.results.items():
                _result_write(locked, leaderboard, result)
            first = next(iter(outcome.results.values()))
            attempt.current().update(
                status=Submission.Status.SCORED,
                stage="scored",
                progress=1.0,
                finished_at=timezone.now(),
                deadline=None,
                scoring_fingerprint=first.fingerprint.as_dict(),
                log=[*locked.log, *attempt.steps, _entry("scored", attempt=attempt.number)],
            )
            transaction.on_commit(
                lambda: [default_storage.delete(n) for n in old_gallery], robust=True
            )
            transaction.on_commit(
                lambda: leaderboard_submission_update(submission_id=submission.pk), robust=True
            )
            transaction.on_commit(
                lambda: notify_participant(submission_id=submission.pk), robust=True
            )
    except BaseException:
        for name in names:
            default_storage.delete(name)
        raise


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


def _entry(step: str, **details: Any) -> dict[str, Any]:
    return {"at": timezone.now().isoformat(timespec="milliseconds"), "step": step, **details}


def _fail(submission: Submission, attempt: Attempt, *, code: str, message: str,
          detail: str = "") -> None:  # fmt: skip
    """The participant's fault: fail with their code and message (the detail is ours)."""
    updated = attempt.current().update(
        status=Submission.Status.FAILED,
        stage="failed",
        error_code=code[:50],
        error_message=message,
        finished_at=timezone.now(),
        deadline=None,
        log=[*submission.log, *attempt.steps, _entry("failed", code=code, detail=detail[:2000])],
    )
    if updated:
        notify_participant(submission_id=submission.pk)


def _not_theirs(
    submission: Submission, attempt: Attempt, error: Exception, *, code: str, message: str
) -> str:
    """Ours or the phase's, not the participant's: back to the queue (sent again by the
    dispatcher's next round, after a pause that gives a restarting database or broker time to
    come back), or failed with `code` and `message` after the last attempt."""
    entry = _entry("error", attempt=attempt.number, code=code, error=repr(error)[:2000])
    outcome = submission_attempt_failed(
        submission=submission,
        code=code,
        message=message,
        log=[*submission.log, *attempt.steps, entry],
        error=repr(error),
    )
    return f"failed: {code}" if outcome == "failed" else outcome
