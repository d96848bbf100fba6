"""Accepting a submission: quota-checked, validated, stored and queued (what happens to it
afterwards is `submissions.lifecycle`)."""

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
from django.utils import timezone

from competitions.errors import BASELINE_ORGANIZERS_ONLY
from competitions.models import Challenge, Participation, Phase
from competitions.selectors import phases_open, user_organizes
from config.errors import ApplicationError, refusal
from config.files import files_removed_on_failure
from models.checkpoints import SUFFIXES
from models.errors import ModelError
from models.loading import CheckpointInfo, CheckpointSpec
from models.runner import ValidationLimits, validate_in_child
from submissions import errors
from submissions.lifecycle import submission_enqueue, submission_log
from submissions.models import Submission
from submissions.selectors import QuotaUsage, inputs_wanted, quota_usage

logger = logging.getLogger(__name__)


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
        raise refusal(errors.NOT_PUBLISHED)
    now = timezone.now()
    if phase_name:
        phase = challenge.phases.filter(name=phase_name).first()
        if phase is None:
            raise refusal(errors.UNKNOWN_PHASE, phase=phase_name)
        if not phase.is_open(now):
            raise refusal(errors.PHASE_NOT_OPEN, phase=phase.name)
        return phase
    found = phases_open(challenge, now).last()
    if found is None:
        raise refusal(errors.NO_OPEN_PHASE)
    return found


def _may_submit(
    *, user: AbstractBaseUser, challenge: Challenge, is_baseline: bool
) -> Participation | None:
    if is_baseline:
        if not user_organizes(user, challenge):
            raise refusal(BASELINE_ORGANIZERS_ONLY)
        return None
    participation = Participation.objects.filter(user=user, challenge=challenge).first()
    if participation is None:
        raise refusal(errors.NOT_PARTICIPANT)
    if participation.status == Participation.Status.PENDING:
        raise refusal(errors.PENDING)
    if participation.status != Participation.Status.APPROVED:
        raise refusal(errors.BANNED)
    return participation


def _check_quota(usage: QuotaUsage) -> None:
    if usage.running_left == 0:
        raise refusal(errors.QUOTA_RUNNING, running=usage.running)
    if usage.total_left == 0:
        raise refusal(errors.QUOTA_TOTAL, limit=usage.total_limit)
    if usage.daily_left == 0:
        when = usage.next_daily_slot_at or timezone.now()
        raise refusal(errors.QUOTA_DAILY, limit=usage.daily_limit, when=when.astimezone(dt.UTC))


def _validate(*, challenge: Challenge, phase: Phase, spec: CheckpointSpec) -> CheckpointInfo:
    limits = ValidationLimits(
        time_limit_s=settings.ATELIER_VALIDATION_TIME_LIMIT_S,
        memory_limit_bytes=settings.ATELIER_VALIDATION_MEMORY_LIMIT_MB * 2**20,
        checkpoint=phase.checkpoint_limits(),
    )
    try:
        # In a child process: this one never parses the participant's file. The format is read
        # from the file's bytes, whatever the participant called it.
        info = validate_in_child(spec, limits)
    except ModelError as error:
        raise ApplicationError(str(error.code), error.message) from error
    if info.inputs != inputs_wanted(challenge):
        wants_style = challenge.task_kind == Challenge.TaskKind.ARBITRARY_STYLE
        raise refusal(errors.WRONG_INPUTS_ARBITRARY if wants_style else errors.WRONG_INPUTS_SINGLE)
    # A graph exported at a fixed size can only take images of that size.
    size = info.config.get("size")
    if isinstance(size, list) and list(size) != [challenge.resolution, challenge.resolution]:
        found, expected = "×".join(map(str, size)), f"{challenge.resolution}×{challenge.resolution}"
        raise refusal(errors.WRONG_RESOLUTION, found=found, expected=expected)
    return info
