"""Writes for challenges, phases, images and participation, and the requests organizers make
of the apps above (a baseline, a recomputed leaderboard)."""

from __future__ import annotations

import logging
from pathlib import Path

from celery import current_app
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from competitions import errors
from competitions.bundles import (
    BundleError,
    BundleLimits,
    PreparedBundle,
    Progress,
    bundle_field_error,
    bundle_prepare,
)
from competitions.bundles import errors as bundle_errors
from competitions.imaging import NormalisedImage
from competitions.models import Challenge, ChallengeImage, Participation, Phase
from competitions.selectors import challenge_slug_taken, user_organizes
from competitions.signals import participation_decided, phase_ranking_changed
from config.errors import refusal
from config.files import files_removed_on_failure

logger = logging.getLogger(__name__)

NEEDS_PHASE = "it has no phase"
NEEDS_IMAGES = "{folder} needs at least {minimum} image(s), it has {count}"
# Defined in `submissions.baseline`, above this app: sent by its name.
BASELINE_TASK = "submissions.baseline.train"

# What a challenge needs before participants can see it: training data, a style to aim at,
# and hidden images on both sides of the public/private split.
PUBLISH_MINIMUM = {
    (ChallengeImage.Kind.CONTENT, ChallengeImage.Split.PUBLIC): 1,
    (ChallengeImage.Kind.CONTENT, ChallengeImage.Split.HIDDEN): 2,
    (ChallengeImage.Kind.STYLE, ChallengeImage.Split.PUBLIC): 1,
}


# --- Images ---------------------------------------------------------------------------------


def image_storage_name(*, challenge: Challenge, kind: str, sha256: str) -> str:
    return f"challenges/{challenge.pk}/{kind}/{sha256}.png"


def _image_row_create(
    *,
    challenge: Challenge,
    kind: str,
    split: str,
    content: File,
    sha256: str,
    size_bytes: int,
    original_name: str,
    written: list[str],
) -> ChallengeImage:
    if ChallengeImage.objects.filter(challenge=challenge, kind=kind, sha256=sha256).exists():
        raise refusal(errors.DUPLICATE_IMAGE, name=original_name, kind=kind)
    name = default_storage.save(
        image_storage_name(challenge=challenge, kind=kind, sha256=sha256), content
    )
    written.append(name)
    image = ChallengeImage(
        challenge=challenge,
        kind=kind,
        split=split,
        # Provisional; challenge_images_partition decides the real side.
        leaderboard=_provisional_leaderboard(kind, split),
        file=name,
        original_name=original_name[:255],
        sha256=sha256,
        size_bytes=size_bytes,
    )
    image.full_clean(exclude=["file"])
    image.save()
    return image


def _provisional_leaderboard(kind: str, split: str) -> str:
    if kind == ChallengeImage.Kind.CONTENT and split == ChallengeImage.Split.HIDDEN:
        return ChallengeImage.Leaderboard.PRIVATE
    return ChallengeImage.Leaderboard.NONE


def challenge_image_add(
    *, challenge: Challenge, kind: str, split: str, normalised: NormalisedImage, name: str
) -> ChallengeImage:
    """Store an already normalised image and re-split the hidden content images."""
    with files_removed_on_failure() as written, transaction.atomic():
        image = _image_row_create(
            challenge=challenge,
            kind=kind,
            split=split,
            content=ContentFile(normalised.png),
            sha256=normalised.sha256,
            size_bytes=normalised.size_bytes,
            original_name=name,
            written=written,
        )
        challenge_images_partition(challenge=challenge)
    image.refresh_from_db()
    return image


@transaction.atomic
def challenge_image_delete(*, image: ChallengeImage) -> None:
    challenge, name = image.challenge, image.file.name
    image.delete()
    challenge_images_partition(challenge=challenge)
    # The file goes only once the deletion is certain; a rollback keeps row and file.
    transaction.on_commit(lambda: default_storage.delete(name), robust=True)


@transaction.atomic
def challenge_images_partition(*, challenge: Challenge) -> None:
    """Split the hidden content images between the public and private leaderboards.

    Deterministic: images are ordered by sha256 and the first ``round(n × public_fraction)``
    (at least one, and leaving at least one) score the public leaderboard. The split depends
    only on the images and the fraction, never on upload order.
    """
    hidden = list(
        ChallengeImage.objects.filter(
            challenge=challenge,
            kind=ChallengeImage.Kind.CONTENT,
            split=ChallengeImage.Split.HIDDEN,
        )
        .order_by("sha256", "pk")
        .values_list("pk", flat=True)
    )
    public_count = public_count_for(len(hidden), challenge.public_fraction)
    ChallengeImage.objects.filter(pk__in=hidden[:public_count]).update(
        leaderboard=ChallengeImage.Leaderboard.PUBLIC
    )
    ChallengeImage.objects.filter(pk__in=hidden[public_count:]).update(
        leaderboard=ChallengeImage.Leaderboard.PRIVATE
    )


def public_count_for(hidden_count: int, public_fraction: float) -> int:
    """How many of ``hidden_count`` images score the public leaderboard."""
    if hidden_count <= 1:
        return hidden_count
    return min(max(round(hidden_count * public_fraction), 1), hidden_count - 1)


# --- Challenges -----------------------------------------------------------------------------


def challenge_update(*, challenge: Challenge, changed: set[str]) -> None:
    """What follows an organizer's change of the challenge's fields (already saved): a new
    public fraction re-partitions its images."""
    if "public_fraction" in changed:
        challenge_images_partition(challenge=challenge)


def challenge_organizer_add(*, challenge: Challenge, creator: AbstractBaseUser) -> None:
    """Whoever creates a challenge organizes it, or it would vanish from their admin; a
    superuser sees every challenge and is added only if named."""
    if not creator.is_superuser:
        challenge.organizers.add(creator)


def challenge_publish_problems(*, challenge: Challenge) -> list[str]:
    """What stands between this challenge and publication (empty when nothing does)."""
    problems = []
    if not challenge.phases.exists():
        problems.append(NEEDS_PHASE)
    for (kind, split), minimum in PUBLISH_MINIMUM.items():
        count = challenge.images.filter(kind=kind, split=split).count()
        if count < minimum:
            problems.append(
                NEEDS_IMAGES.format(folder=f"{kind}/{split}", minimum=minimum, count=count)
            )
    return problems


@transaction.atomic
def challenge_publish(*, challenge: Challenge) -> Challenge:
    if challenge.status == Challenge.Status.ARCHIVED:
        raise refusal(errors.ALREADY_ARCHIVED)
    problems = challenge_publish_problems(challenge=challenge)
    if problems:
        raise refusal(errors.NOT_PUBLISHABLE, reasons="; ".join(problems))
    if challenge.status != Challenge.Status.PUBLISHED:
        challenge.status = Challenge.Status.PUBLISHED
        challenge.published_at = challenge.published_at or timezone.now()
        challenge.full_clean()
        challenge.save(update_fields=["status", "published_at", "updated_at"])
    return challenge


@transaction.atomic
def challenge_archive(*, challenge: Challenge) -> Challenge:
    challenge.status = Challenge.Status.ARCHIVED
    challenge.save(update_fields=["status", "updated_at"])
    return challenge


def challenge_resolution_check(*, challenge: Challenge, new_resolution: int) -> None:
    """Stored images are normalised to one resolution; changing it would orphan them."""
    if challenge.pk and challenge.resolution != new_resolution and challenge.images.exists():
        raise refusal(errors.RESOLUTION_LOCKED)


@transaction.atomic
def challenge_delete(*, challenge: Challenge) -> None:
    names = list(challenge.images.values_list("file", flat=True))
    challenge.delete()
    transaction.on_commit(lambda: [default_storage.delete(name) for name in names], robust=True)


def challenge_bundle_import(
    *,
    source: Path,
    organizer: AbstractBaseUser | None = None,
    limits: BundleLimits | None = None,
    progress: Progress | None = None,
) -> Challenge:
    """Import a challenge bundle (zip or folder): all of it, or nothing.

    Everything is validated and every image normalised before the first write; then the
    challenge, its phases and images are created in one transaction, and image files written
    before a failure are removed again.
    """
    with bundle_prepare(source, limits=limits, progress=progress) as prepared:
        try:
            with files_removed_on_failure() as written, transaction.atomic():
                challenge = _bundle_write(prepared, organizer=organizer, written=written)
        except IntegrityError as error:
            # Another import took the slug between our check and our insert.
            slug = prepared.manifest.slug
            if challenge_slug_taken(slug):
                raise BundleError.of(bundle_errors.SLUG_TAKEN, slug=slug) from error
            raise
    logger.info(
        "Imported challenge %s with %d images and %d phases",
        challenge.slug,
        len(prepared.images),
        len(prepared.manifest.phases),
    )
    return challenge


def _bundle_write(
    prepared: PreparedBundle, *, organizer: AbstractBaseUser | None, written: list[str]
) -> Challenge:
    manifest = prepared.manifest
    challenge = Challenge(
        slug=manifest.slug,
        title=manifest.title,
        summary=manifest.summary,
        description=manifest.description,
        rules=manifest.rules,
        task_kind=manifest.task_kind,
        resolution=manifest.resolution,
        public_fraction=manifest.public_fraction,
        registration=manifest.registration,
    )
    _bundle_full_clean(challenge)
    challenge.save()
    if organizer is not None:
        challenge.organizers.add(organizer)
    for index, spec in enumerate(manifest.phases, 1):
        phase = Phase(
            challenge=challenge,
            name=spec.name,
            starts_at=spec.starts_at,
            ends_at=spec.ends_at,
            **spec.limits,
        )
        _bundle_full_clean(phase, where=f" in phase {index}")
        phase.save()
    for image in prepared.images:
        with image.temp_path.open("rb") as handle:
            _image_row_create(
                challenge=challenge,
                kind=image.kind,
                split=image.split,
                content=File(handle),
                sha256=image.sha256,
                size_bytes=image.size_bytes,
                original_name=image.original_name,
                written=written,
            )
    challenge_images_partition(challenge=challenge)
    if manifest.status == Challenge.Status.PUBLISHED:
        challenge_publish(challenge=challenge)
    return challenge


def _bundle_full_clean(instance: models.Model, *, where: str = "") -> None:
    """full_clean(), with a refusal reported against the manifest's key, not as a crash."""
    try:
        instance.full_clean()
    except ValidationError as error:
        raise bundle_field_error(error, where=where) from error


# --- Participation --------------------------------------------------------------------------


@transaction.atomic
def participation_join(
    *, user: AbstractBaseUser, challenge: Challenge, accept_rules: bool
) -> Participation:
    """Join a published challenge: approved at once, or pending where approval is required.

    Joining again is harmless and returns the existing participation.
    """
    if challenge.status != Challenge.Status.PUBLISHED:
        raise refusal(errors.JOIN_CLOSED)
    existing = (
        Participation.objects.select_for_update().filter(user=user, challenge=challenge).first()
    )
    if existing is not None:
        if existing.status == Participation.Status.BANNED:
            raise refusal(errors.JOIN_BANNED)
        if existing.status == Participation.Status.REJECTED:
            raise refusal(errors.JOIN_REJECTED)
        return existing
    if not accept_rules:
        raise refusal(errors.JOIN_RULES)
    approved = challenge.registration == Challenge.Registration.OPEN
    participation = Participation(
        user=user,
        challenge=challenge,
        rules_accepted_at=timezone.now(),
        status=Participation.Status.APPROVED if approved else Participation.Status.PENDING,
        decided_at=timezone.now() if approved else None,
    )
    participation.full_clean()
    participation.save()
    return participation


@transaction.atomic
def participation_decide(
    *, participation: Participation, status: str, decided_by: AbstractBaseUser
) -> Participation:
    """An organizer approves, rejects or bans a participant."""
    if status not in Participation.Status.values or status == Participation.Status.PENDING:
        raise refusal(errors.UNKNOWN_DECISION, status=status)
    participation.status = status
    participation.decided_at = timezone.now()
    participation.decided_by = decided_by
    participation.save(update_fields=["status", "decided_at", "decided_by"])
    # A ban takes the participant off the leaderboards; an approval puts them back.
    participation_decided.send(Participation, participation=participation)
    return participation


# --- Phases: the private leaderboard, the ranking ------------------------------------------


@transaction.atomic
def phase_reveal(*, phase: Phase) -> Phase:
    """Show the phase's private leaderboard to everyone; only once the phase has ended."""
    if timezone.now() < phase.ends_at:
        raise refusal(errors.NOT_ENDED, phase=phase.name)
    if phase.private_revealed_at is None:
        phase.private_revealed_at = timezone.now()
        phase.full_clean()
        phase.save(update_fields=["private_revealed_at"])
        logger.info("private leaderboard of phase %s revealed", phase.pk)
    return phase


@transaction.atomic
def phase_hide(*, phase: Phase) -> Phase:
    """Take back a reveal made by mistake: organizers only see the private leaderboard again."""
    phase.private_revealed_at = None
    phase.full_clean()
    phase.save(update_fields=["private_revealed_at"])
    return phase


def challenge_phases_reveal(*, challenge: Challenge) -> list[Phase]:
    """Reveal the private leaderboard of every ended phase not revealed yet; returns them."""
    ended = challenge.phases.filter(ends_at__lte=timezone.now(), private_revealed_at__isnull=True)
    return [phase_reveal(phase=phase) for phase in ended]


def challenge_phases_hide(*, challenge: Challenge) -> list[Phase]:
    """Hide every revealed private leaderboard of the challenge again; returns the phases."""
    revealed = challenge.phases.filter(private_revealed_at__isnull=False)
    return [phase_hide(phase=phase) for phase in revealed]


def phase_ranking_update(*, phase: Phase) -> None:
    """The phase's ranking settings changed, or an organizer asked: its boards are rebuilt."""
    phase_ranking_changed.send(Phase, phase=phase)


def challenge_leaderboards_recompute(*, challenge: Challenge) -> None:
    """Rebuild the boards of every phase of the challenge."""
    for phase in challenge.phases.all():
        phase_ranking_update(phase=phase)


# --- Baselines ------------------------------------------------------------------------------


def baseline_request(*, challenge: Challenge, user: AbstractBaseUser, steps: int) -> None:
    """Queue the training of a baseline on the `scoring` queue (it needs a worker's CPU or
    GPU), once the caller's transaction commits; `user`, an organizer, submits it."""
    if not user_organizes(user, challenge):
        raise refusal(errors.BASELINE_ORGANIZERS_ONLY)
    transaction.on_commit(
        lambda: current_app.send_task(
            BASELINE_TASK, args=[challenge.pk, user.pk, steps], queue=challenge.scoring_queue
        ),
        robust=True,
    )
