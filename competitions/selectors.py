"""Reads for challenges: who may see what."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from competitions.models import Challenge, ChallengeImage, Participation, Phase

AnyUser = AbstractBaseUser | AnonymousUser


def challenges_organized_by(user: AnyUser) -> QuerySet[Challenge]:
    """Challenges the user may manage: all for superusers, their own for organizers."""
    if not user.is_authenticated or not user.is_active:
        return Challenge.objects.none()
    if user.is_superuser:
        return Challenge.objects.all()
    return Challenge.objects.filter(organizers=user)


def user_organizes(user: AnyUser, challenge: Challenge) -> bool:
    return challenges_organized_by(user).filter(pk=challenge.pk).exists()


def challenge_slug_taken(slug: str) -> bool:
    return Challenge.objects.filter(slug=slug).exists()


def challenges_visible_to(user: AnyUser) -> QuerySet[Challenge]:
    """Published and archived challenges for everyone; drafts only for their organizers."""
    public = Q(status__in=[Challenge.Status.PUBLISHED, Challenge.Status.ARCHIVED])
    organized = challenges_organized_by(user).values("pk")
    return Challenge.objects.filter(public | Q(pk__in=organized))


def challenge_list_published() -> QuerySet[Challenge]:
    return (
        Challenge.objects.filter(status=Challenge.Status.PUBLISHED)
        .prefetch_related("phases")
        .annotate(
            participant_count=Count(
                "participations",
                filter=Q(participations__status=Participation.Status.APPROVED),
            )
        )
        .order_by("-published_at", "-created_at")
    )


def challenge_get_visible(*, slug: str, user: AnyUser) -> Challenge:
    challenge = challenges_visible_to(user).filter(slug=slug).first()
    if challenge is None:
        raise Http404("No such challenge.")
    return challenge


def phases_open(challenge: Challenge, at: dt.datetime | None = None) -> QuerySet[Phase]:
    """The challenge's phases open for submissions now (or at `at`), earliest start first."""
    at = at or timezone.now()
    return challenge.phases.filter(starts_at__lte=at, ends_at__gt=at).order_by("starts_at")


def participation_for(*, user: AnyUser, challenge: Challenge) -> Participation | None:
    if not user.is_authenticated:
        return None
    return Participation.objects.filter(user=user, challenge=challenge).first()


def user_may_download_public_data(user: AnyUser, challenge: Challenge) -> bool:
    """Approved participants (who accepted the rules) and the challenge's organizers."""
    if user_organizes(user, challenge):
        return True
    participation = participation_for(user=user, challenge=challenge)
    return participation is not None and participation.is_approved


def image_counts(challenge: Challenge) -> dict[str, int]:
    """Counts per ``<kind>_<split>`` and ``leaderboard_<public|private>``, zeros included."""
    counts = {
        f"{kind}_{split}": 0 for kind in ChallengeImage.Kind for split in ChallengeImage.Split
    }
    counts.update({f"leaderboard_{board}": 0 for board in ("public", "private")})
    for row in challenge.images.values("kind", "split").annotate(n=Count("pk")):
        counts[f"{row['kind']}_{row['split']}"] = row["n"]
    boards = challenge.images.exclude(leaderboard="").values("leaderboard")
    for row in boards.annotate(n=Count("pk")):
        counts[f"leaderboard_{row['leaderboard']}"] = row["n"]
    return counts


def public_images(challenge: Challenge, *, kind: str) -> QuerySet[ChallengeImage]:
    return challenge.images.filter(kind=kind, split=ChallengeImage.Split.PUBLIC)


def image_get_for_viewer(*, challenge: Challenge, pk: int, user: AnyUser) -> ChallengeImage:
    """Who sees an image: hidden ones only organizers; public content photos those who may
    download the data (they accepted the rules); public style artworks anyone, since they
    show what the challenge is about.
    """
    image = challenge.images.filter(pk=pk).first()
    if image is None:
        raise Http404("No such image.")
    if image.split == ChallengeImage.Split.HIDDEN:
        allowed = user_organizes(user, challenge)
    elif image.kind == ChallengeImage.Kind.CONTENT:
        allowed = user_may_download_public_data(user, challenge)
    else:
        allowed = True
    if not allowed:
        raise Http404("No such image.")
    return image


def challenge_list_visible(*, user: AnyUser, status: str | None = None) -> QuerySet[Challenge]:
    """The challenges a user may open, newest first (the API's list): published and archived
    ones, and the drafts they organize."""
    challenges = challenges_visible_to(user)
    if status:
        challenges = challenges.filter(status=status)
    return challenges.order_by("-published_at", "-created_at", "pk")
