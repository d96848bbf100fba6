"""Scoring's writes: profiles, the judge of a challenge, reference caches, stale results."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from competitions.models import Challenge, ChallengeImage
from config.errors import ApplicationError
from scoring import engine
from scoring.models import Leaderboard, ReferenceCache, Result, ScoringProfile

logger = logging.getLogger(__name__)

NO_JUDGE_IMAGES = "The judge needs style images and public content photos to train on."


def scoring_profile_get(*, challenge: Challenge) -> ScoringProfile:
    profile, _ = ScoringProfile.objects.get_or_create(challenge=challenge)
    return profile


@functools.lru_cache(maxsize=2)
def metric_network(device: str = "cpu") -> engine.MetricNetwork:
    """The metric network of this worker, loaded once per process."""
    return engine.MetricNetwork.load(
        settings.ATELIER_VGG19_WEIGHTS or None, seed=settings.ATELIER_VGG19_SEED, device=device
    )


def images_load(images: Sequence[ChallengeImage]) -> torch.Tensor:
    """Stored challenge images as one N×3×R×R float batch in [0, 1]."""
    tensors = []
    for image in images:
        with default_storage.open(image.file.name, "rb") as handle:
            tensors.append(engine.png_decode(handle.read()))
    return torch.stack(tensors)


# --- The judge ------------------------------------------------------------------------------


def judge_for(*, profile: ScoringProfile, device: str = "cpu") -> engine.Judge | None:
    """The challenge's ready judge, or None when it has none."""
    if profile.judge_status != ScoringProfile.JudgeStatus.READY or not profile.judge_file:
        return None
    with default_storage.open(profile.judge_file.name, "rb") as handle:
        return engine.Judge.from_bytes(handle.read(), device=device)


def judge_train(
    *,
    challenge: Challenge,
    device: str = "cpu",
    heartbeat: Callable[[], None] | None = None,
) -> ScoringProfile:
    """Train the challenge's judge (style images real, public content photos fake) and store it.

    A failure leaves the profile `failed` with the reason; scoring then goes on without the
    judge's metrics rather than failing participants for the organizer's data.
    """
    profile = scoring_profile_get(challenge=challenge)
    ScoringProfile.objects.filter(pk=profile.pk).update(
        judge_status=ScoringProfile.JudgeStatus.TRAINING, judge_error=""
    )
    style = list(challenge.images.filter(kind=ChallengeImage.Kind.STYLE).order_by("sha256"))
    content = list(
        challenge.images.filter(
            kind=ChallengeImage.Kind.CONTENT, split=ChallengeImage.Split.PUBLIC
        ).order_by("sha256")
    )
    try:
        if not style or not content:
            raise ApplicationError("judge_training_data", NO_JUDGE_IMAGES)
        judge_settings = engine.JudgeSettings(
            steps=profile.judge_steps,
            seed=profile.judge_seed,
            # Half the resolution at most: with a single image per set, training holds out a
            # band of it and needs two crops of room.
            crop=min(engine.JudgeSettings.crop, challenge.resolution // 2),
        )
        result = engine.judge_train(
            images_load(style),
            images_load(content),
            judge_settings,
            device=device,
            progress=(lambda step, steps, loss: heartbeat()) if heartbeat else None,
        )
    except (ApplicationError, engine.ScoringError) as error:
        logger.warning("judge training for %s failed: %s", challenge.slug, error)
        ScoringProfile.objects.filter(pk=profile.pk).update(
            judge_status=ScoringProfile.JudgeStatus.FAILED,
            judge_error=error.message,
            judge_updated_at=timezone.now(),
        )
        profile.refresh_from_db()
        return profile
    return judge_store(
        profile=profile,
        data=result.judge.data,
        sha256=result.judge.sha256,
        summary=result.summary(),
        uploaded=False,
    )


def judge_upload(*, challenge: Challenge, data: bytes) -> ScoringProfile:
    """An organizer's own judge: validated by the engine before it replaces the current one."""
    try:
        judge = engine.Judge.from_bytes(data)
    except engine.ScoringError as error:
        raise ApplicationError(str(error.code), error.message) from error
    return judge_store(
        profile=scoring_profile_get(challenge=challenge),
        data=judge.data,
        sha256=judge.sha256,
        summary={"uploaded": True, "config": judge.config},
        uploaded=True,
    )


def judge_store(
    *, profile: ScoringProfile, data: bytes, sha256: str, summary: dict, uploaded: bool
) -> ScoringProfile:
    name = default_storage.save(
        f"scoring/{profile.challenge_id}/judge-{sha256[:16]}.safetensors", ContentFile(data)
    )
    old = profile.judge_file.name if profile.judge_file else ""
    with transaction.atomic():
        ScoringProfile.objects.filter(pk=profile.pk).update(
            judge_status=ScoringProfile.JudgeStatus.READY,
            judge_file=name,
            judge_sha256=sha256,
            judge_summary=summary,
            judge_uploaded=uploaded,
            judge_error="",
            judge_updated_at=timezone.now(),
        )
        results_mark_stale(challenge_id=profile.challenge_id, judge_sha256=sha256)
        if old and old != name:
            transaction.on_commit(lambda: default_storage.delete(old), robust=True)
    profile.refresh_from_db()
    logger.info("judge %s stored for challenge %s", sha256[:12], profile.challenge_id)
    return profile


def results_mark_stale(*, challenge_id: int, judge_sha256: str) -> int:
    """Results scored with another judge no longer match what a rescore would give."""
    return (
        Result.objects.filter(submission__phase__challenge_id=challenge_id, stale=False)
        .exclude(judge_sha256=judge_sha256)
        .update(stale=True)
    )


# --- Reference caches -----------------------------------------------------------------------


@dataclass(frozen=True)
class BoardImages:
    """The images one leaderboard subset is scored on, in the cache's order."""

    leaderboard: str
    content: list[ChallengeImage]
    styles: list[ChallengeImage]
    style_pairing: tuple[int, ...] | None


def board_images(*, challenge: Challenge, leaderboard: str) -> BoardImages:
    content = list(
        challenge.images.filter(
            kind=ChallengeImage.Kind.CONTENT,
            split=ChallengeImage.Split.HIDDEN,
            leaderboard=leaderboard,
        ).order_by("sha256")
    )
    styles = list(challenge.images.filter(kind=ChallengeImage.Kind.STYLE).order_by("sha256"))
    pairing = None
    if challenge.task_kind == Challenge.TaskKind.ARBITRARY_STYLE:
        # Each test photo is paired with a style image by position: stable, and every style
        # image is used as evenly as the counts allow.
        pairing = tuple(index % len(styles) for index in range(len(content)))
    return BoardImages(leaderboard, content, styles, pairing)


def reference_spec(
    *, challenge: Challenge, board: BoardImages, profile: ScoringProfile
) -> engine.ReferenceSpec:
    return engine.ReferenceSpec(
        task_kind=engine.TaskKind(challenge.task_kind),
        content_sha256=tuple(image.sha256 for image in board.content),
        style_sha256=tuple(image.sha256 for image in board.styles),
        public_style_sha256=tuple(
            image.sha256 for image in board.styles if image.split == ChallengeImage.Split.PUBLIC
        ),
        prototypes=profile.prototypes,
        style_pairing=board.style_pairing,
    )


def references_ensure(
    *,
    challenge: Challenge,
    board: BoardImages,
    profile: ScoringProfile,
    network: engine.MetricNetwork,
    judge: engine.Judge | None,
) -> engine.References:
    """The board's reference cache: loaded when its key still matches, rebuilt otherwise."""
    spec = reference_spec(challenge=challenge, board=board, profile=profile)
    key = engine.references_key(
        spec, network.fingerprint(challenge.resolution), judge.sha256 if judge else None
    )
    cache = ReferenceCache.objects.filter(
        challenge=challenge, leaderboard=board.leaderboard
    ).first()
    if cache is not None and cache.key == key and default_storage.exists(cache.file.name):
        with default_storage.open(cache.file.name, "rb") as handle:
            return engine.References.from_bytes(handle.read(), name=cache.file.name)
    started = time.perf_counter()
    public_styles = [image for image in board.styles if image.split == ChallengeImage.Split.PUBLIC]
    references = engine.references_build(
        spec,
        content_images=images_load(board.content),
        style_images=images_load(board.styles),
        public_style_images=images_load(public_styles) if public_styles else [],
        network=network,
        judge=judge,
    )
    seconds = time.perf_counter() - started
    name = default_storage.save(
        f"scoring/{challenge.pk}/references-{board.leaderboard}-{key[:16]}.safetensors",
        ContentFile(references.to_bytes()),
    )
    old = cache.file.name if cache is not None else ""
    ReferenceCache.objects.update_or_create(
        challenge=challenge,
        leaderboard=board.leaderboard,
        defaults={"key": key, "file": name, "build_seconds": seconds},
    )
    if old and old != name:
        default_storage.delete(old)
    logger.info("built %s references of %s in %.1f s", board.leaderboard, challenge.slug, seconds)
    return references


LEADERBOARDS = (Leaderboard.PUBLIC, Leaderboard.PRIVATE)
