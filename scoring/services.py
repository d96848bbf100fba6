"""Scoring's writes: profiles, the judge of a challenge, reference caches, stale results."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from torch.nn import functional

from competitions.models import Challenge, ChallengeImage
from config.errors import ApplicationError, refusal
from config.files import storage_save_once
from scoring import engine, errors
from scoring.models import Leaderboard, ReferenceCache, Result, ScoringProfile

logger = logging.getLogger(__name__)

JUDGE_FAILED = "the challenge's judge failed its check: {reason}"
NO_JUDGE_YET = "the challenge has no judge"
JUDGE_ATTEMPTS_FAILED = "In {count} trainings with successive seeds, the best: {reason}"


def scoring_profile_get(*, challenge: Challenge) -> ScoringProfile:
    profile, _ = ScoringProfile.objects.get_or_create(challenge=challenge)
    return profile


@functools.lru_cache(maxsize=2)
def metric_network(device: str = "cpu") -> engine.MetricNetwork:
    """The metric network of this worker, loaded once per process."""
    return engine.MetricNetwork.load(
        settings.ATELIER_VGG19_WEIGHTS or None,
        seed=settings.ATELIER_VGG19_SEED,
        members=settings.ATELIER_VGG19_MEMBERS,
        device=device,
    )


def images_load(images: Sequence[ChallengeImage], resolution: int | None = None) -> torch.Tensor:
    """Stored challenge images as one N×3×R×R float batch in [0, 1].

    Images of another challenge (judge negatives) may be stored at another resolution: with
    `resolution` given, each is resized to it (antialiased).
    """
    tensors = []
    for image in images:
        with default_storage.open(image.file.name, "rb") as handle:
            tensor = engine.png_decode(handle.read())
        if resolution is not None and tuple(tensor.shape[-2:]) != (resolution, resolution):
            tensor = (
                functional.interpolate(
                    tensor.unsqueeze(0),
                    size=(resolution, resolution),
                    mode="bilinear",
                    antialias=True,
                    align_corners=False,
                )
                .squeeze(0)
                .clamp(0, 1)
            )
        tensors.append(tensor)
    return torch.stack(tensors)


# --- The judge ------------------------------------------------------------------------------


def judge_for(*, profile: ScoringProfile, device: str = "cpu") -> engine.Judge | None:
    """The challenge's judge when it passed its check, else None (a failed judge never scores)."""
    if profile.judge_status != ScoringProfile.JudgeStatus.READY or not profile.judge_file:
        return None
    with default_storage.open(profile.judge_file.name, "rb") as handle:
        return engine.Judge.from_bytes(handle.read(), device=device)


def judge_missing_reason(*, profile: ScoringProfile) -> str:
    """Why the judge metrics of a result are missing, in the words results show."""
    if profile.judge_status == ScoringProfile.JudgeStatus.FAILED:
        return JUDGE_FAILED.format(reason=profile.judge_error or "no reason was recorded")
    return NO_JUDGE_YET


@dataclass(frozen=True)
class JudgeImages:
    """What a challenge's judge learns from: its style, its public photos, and negatives."""

    style: list[ChallengeImage]
    content: list[ChallengeImage]
    negatives: list[ChallengeImage]


def judge_images(*, challenge: Challenge) -> JudgeImages:
    """Style images and public photos of the challenge, and images that are not its style.

    Negatives: the organizer's own (kind `negative`), then the public style images of the
    platform's other challenges (capped by ATELIER_JUDGE_MAX_NEGATIVES), never an image that is
    also one of this challenge's style images. Each list is ordered by sha256.
    """
    own = challenge.images.all()
    style = list(own.filter(kind=ChallengeImage.Kind.STYLE).order_by("sha256"))
    content = list(
        own.filter(kind=ChallengeImage.Kind.CONTENT, split=ChallengeImage.Split.PUBLIC).order_by(
            "sha256"
        )
    )
    style_hashes = {image.sha256 for image in style}
    organizer = list(own.filter(kind=ChallengeImage.Kind.NEGATIVE).order_by("sha256"))
    others = (
        ChallengeImage.objects.filter(
            kind=ChallengeImage.Kind.STYLE, split=ChallengeImage.Split.PUBLIC
        )
        .exclude(challenge=challenge)
        .exclude(sha256__in=style_hashes)
        .order_by("sha256")
    )
    negatives: list[ChallengeImage] = []
    seen = set(style_hashes)
    for image in [*organizer, *others]:
        if len(negatives) >= settings.ATELIER_JUDGE_MAX_NEGATIVES:
            break
        if image.sha256 not in seen:
            seen.add(image.sha256)
            negatives.append(image)
    return JudgeImages(style=style, content=content, negatives=negatives)


def judge_settings(*, challenge: Challenge, profile: ScoringProfile) -> engine.JudgeSettings:
    # With a single image in a set, its bottom-right quarter is held out and crops come from
    # its top and left halves: crops are half the resolution at most. A judge of three strided
    # layers needs crops of 64 pixels or more; small challenges get two.
    crop = min(engine.JudgeSettings.crop, challenge.resolution // 2)
    return engine.JudgeSettings(
        steps=profile.judge_steps,
        seed=profile.judge_seed,
        crop=crop,
        n_layers=engine.JudgeSettings.n_layers if crop >= 64 else 2,
        min_accuracy=settings.ATELIER_JUDGE_MIN_ACCURACY,
        min_tiles=settings.ATELIER_JUDGE_MIN_TILES,
    )


def judge_train(
    *,
    challenge: Challenge,
    device: str = "cpu",
    heartbeat: Callable[[], None] | None = None,
) -> ScoringProfile:
    """Train the challenge's judge, check it on held-out tiles, and store it if it passed.

    Training is stochastic: a run that misses the gate is trained again with the next seed, up
    to `ATELIER_JUDGE_ATTEMPTS` runs, and the first that passes is stored (its seed and every
    run's accuracy are in the summary). A judge that misses the gate every time is FAILED with
    the reason of its best run (shown in the admin and the API) and never scores; so is a
    training run that cannot start. Scoring then goes on without the judge's metrics, with the
    composite in its judge-free form, rather than failing participants for the organizer's data.
    """
    profile = scoring_profile_get(challenge=challenge)
    ScoringProfile.objects.filter(pk=profile.pk).update(
        judge_status=ScoringProfile.JudgeStatus.TRAINING, judge_error=""
    )
    images = judge_images(challenge=challenge)
    base = judge_settings(challenge=challenge, profile=profile)
    runs: list[engine.JudgeTrainingResult] = []
    try:
        if not images.style or not images.content:
            raise refusal(errors.NO_JUDGE_IMAGES)
        style, content = images_load(images.style), images_load(images.content)
        negatives = images_load(images.negatives, challenge.resolution) if images.negatives else []
        for attempt in range(max(1, settings.ATELIER_JUDGE_ATTEMPTS)):
            runs.append(
                engine.judge_train(
                    style,
                    content,
                    replace(base, seed=base.seed + attempt),
                    negative_images=negatives,
                    device=device,
                    progress=(lambda step, steps, loss: heartbeat()) if heartbeat else None,
                )
            )
            # Too few held-out tiles is a property of the images, which no other seed changes.
            if runs[-1].passed or runs[-1].heldout_tiles < base.min_tiles:
                break
            logger.info(
                "judge of %s missed the gate with seed %d: %s",
                challenge.slug,
                base.seed + attempt,
                runs[-1].failure,
            )
    except (ApplicationError, engine.ScoringError) as error:
        logger.warning("judge training for %s failed: %s", challenge.slug, error)
        return judge_fail(profile=profile, reason=error.message, summary={})
    result = runs[-1] if runs[-1].passed else max(runs, key=lambda run: run.heldout_accuracy)
    summary = {
        **result.summary(),
        "negatives": len(images.negatives),
        "attempts": [
            {"seed": run.settings.seed, "accuracy": run.heldout_accuracy, "passed": run.passed}
            for run in runs
        ],
    }
    if not result.passed:
        reason = result.failure
        if len(runs) > 1:
            reason = JUDGE_ATTEMPTS_FAILED.format(count=len(runs), reason=reason)
        return judge_fail(profile=profile, reason=reason, summary=summary)
    return judge_store(
        profile=profile,
        data=result.judge.data,
        sha256=result.judge.sha256,
        summary=summary,
        threshold=result.threshold,
        uploaded=False,
    )


def judge_upload(*, challenge: Challenge, data: bytes) -> ScoringProfile:
    """An organizer's own judge: validated, then checked on the challenge's images by the same
    gate as a trained one; it replaces the current judge only if it passes."""
    try:
        judge = engine.Judge.from_bytes(data)
    except engine.ScoringError as error:
        raise ApplicationError(str(error.code), error.message) from error
    profile = scoring_profile_get(challenge=challenge)
    images = judge_images(challenge=challenge)
    if not images.style or not images.content:
        raise refusal(errors.NO_JUDGE_IMAGES)
    check_settings = judge_settings(challenge=challenge, profile=profile)
    heldout = engine.judge_check(
        judge,
        images_load(images.style),
        images_load(images.content),
        check_settings,
        negative_images=images_load(images.negatives, challenge.resolution)
        if images.negatives
        else [],
    )
    summary = {"uploaded": True, "config": judge.config, **heldout.summary()}
    failure = engine.judge_gate_failure(heldout, check_settings)
    if failure:
        raise refusal(errors.JUDGE_FAILED_CHECK, reason=failure)
    return judge_store(
        profile=profile,
        data=judge.data,
        sha256=judge.sha256,
        summary=summary,
        threshold=heldout.threshold,
        uploaded=True,
    )


def judge_fail(*, profile: ScoringProfile, reason: str, summary: dict) -> ScoringProfile:
    """The judge may not score: FAILED with the reason; results judged before become stale."""
    with transaction.atomic():
        old = _judge_file_locked(profile)
        ScoringProfile.objects.filter(pk=profile.pk).update(
            judge_status=ScoringProfile.JudgeStatus.FAILED,
            judge_file="",
            judge_sha256="",
            judge_summary=summary,
            judge_uploaded=False,
            judge_error=reason,
            judge_updated_at=timezone.now(),
        )
        results_mark_stale(challenge_id=profile.challenge_id, judge_sha256="")
        if old:
            transaction.on_commit(lambda: default_storage.delete(old), robust=True)
    profile.refresh_from_db()
    logger.info("judge of challenge %s failed: %s", profile.challenge_id, reason)
    return profile


def _judge_file_locked(profile: ScoringProfile) -> str:
    """The judge file stored now, read under the profile's row lock: another worker may have
    stored one since `profile` was read, and it must not be left behind when replaced."""
    current = ScoringProfile.objects.select_for_update().filter(pk=profile.pk)
    return current.values_list("judge_file", flat=True).first() or ""


def judge_store(
    *,
    profile: ScoringProfile,
    data: bytes,
    sha256: str,
    summary: dict,
    threshold: float,
    uploaded: bool,
) -> ScoringProfile:
    # Named by its hash: two workers storing the same judge leave one file.
    name = storage_save_once(
        f"scoring/{profile.challenge_id}/judge-{sha256[:16]}.safetensors", data
    )
    with transaction.atomic():
        old = _judge_file_locked(profile)
        ScoringProfile.objects.filter(pk=profile.pk).update(
            judge_status=ScoringProfile.JudgeStatus.READY,
            judge_file=name,
            judge_sha256=sha256,
            judge_summary=summary,
            judge_threshold=threshold,
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
    # Named by its key: two workers building the same references at once leave one file.
    name = storage_save_once(
        f"scoring/{challenge.pk}/references-{board.leaderboard}-{key[:16]}.safetensors",
        references.to_bytes(),
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


@dataclass
class BoardRun:
    """One leaderboard subset being scored: its images, its scorer, its share of the time."""

    board: BoardImages
    scorer: engine.Scorer
    seconds: float = 0.0


def board_scorers(
    *,
    challenge: Challenge,
    network: engine.MetricNetwork,
    device: str = "cpu",
    check: Callable[[], None] | None = None,
) -> list[BoardRun]:
    """A scorer per leaderboard subset, with the judge when it passed its check.

    Reference caches are built first where missing or stale; `check()` runs after each (the
    pipeline's way to stop work on an attempt that is no longer its own).
    """
    profile = scoring_profile_get(challenge=challenge)
    judge = judge_for(profile=profile, device=device)
    runs = []
    for leaderboard in LEADERBOARDS:
        board = board_images(challenge=challenge, leaderboard=leaderboard)
        references = references_ensure(
            challenge=challenge, board=board, profile=profile, network=network, judge=judge
        )
        if check is not None:
            check()
        scorer = engine.Scorer(
            references,
            network,
            judge,
            gallery_size=0,
            frechet_epsilon=profile.frechet_epsilon,
            deception_threshold=profile.judge_threshold,
            no_judge_reason=judge_missing_reason(profile=profile),
        )
        runs.append(BoardRun(board, scorer))
    return runs
