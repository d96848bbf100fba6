"""Factories and builders for test data: users with roles, challenges with images."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import factory
import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.utils import timezone
from PIL import Image

from accounts.roles import ORGANIZERS_GROUP, organizers_group_ensure
from competitions.imaging import normalise_image
from competitions.models import Challenge, Phase
from competitions.services import challenge_image_add, challenge_publish
from submissions.models import Submission
from submissions.services import submission_create

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.save()


def make_organizer(username: str) -> User:
    user = UserFactory(username=username, is_staff=True)
    organizers_group_ensure()
    user.groups.add(Group.objects.get(name=ORGANIZERS_GROUP))
    return user


def image_bytes(seed: int, *, size: tuple[int, int] = (48, 40), fmt: str = "PNG") -> bytes:
    """A small random RGB image, different for every seed."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format=fmt)
    return buffer.getvalue()


def make_challenge(
    *,
    slug: str,
    organizers: tuple[User, ...] = (),
    status: str = Challenge.Status.PUBLISHED,
    registration: str = Challenge.Registration.OPEN,
    resolution: int = 32,
    content_public: int = 2,
    content_hidden: int = 3,
    style_public: int = 1,
    style_hidden: int = 0,
) -> Challenge:
    """A challenge with one open phase and small random images, built through the services."""
    challenge = Challenge.objects.create(
        slug=slug,
        title=slug.replace("-", " ").title(),
        resolution=resolution,
        registration=registration,
        description=f"# {slug}\n\nThe description of {slug}.",
        rules=f"The rules of {slug}: be kind.",
    )
    challenge.organizers.add(*organizers)
    now = timezone.now()
    Phase.objects.create(
        challenge=challenge,
        name="Development",
        starts_at=now - dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=30),
    )
    seed = sum(slug.encode()) * 1000
    plan = [
        ("content", "public", content_public),
        ("content", "hidden", content_hidden),
        ("style", "public", style_public),
        ("style", "hidden", style_hidden),
    ]
    for kind, split, count in plan:
        for index in range(count):
            seed += 1
            name = f"{kind}-{split}-{index}.png"
            normalised = normalise_image(
                image_bytes(seed), name=name, resolution=resolution, max_pixels=10**7
            )
            challenge_image_add(
                challenge=challenge, kind=kind, split=split, normalised=normalised, name=name
            )
    if status == Challenge.Status.PUBLISHED:
        challenge_publish(challenge=challenge)
    elif status == Challenge.Status.ARCHIVED:
        challenge.status = status
        challenge.save()
    return challenge


# --- Forum -----------------------------------------------------------------------------------


def make_forum_thread(
    challenge: Challenge,
    author: User,
    *,
    title: str = "A question",
    body: str = "Hello **forum**.",
    pinned: bool = False,
    locked: bool = False,
    last_activity_at: dt.datetime | None = None,
):  # type: ignore[no-untyped-def]
    """A thread with its first post, written straight to the database (no rate limit, no
    permission check): for tests of reading, ordering and moderation."""
    from config.markdown import markdown_render_safe
    from forum.models import Post, Thread

    at = last_activity_at or timezone.now()
    thread = Thread.objects.create(
        challenge=challenge,
        title=title,
        author=author,
        is_pinned=pinned,
        is_locked=locked,
        created_at=at,
        last_activity_at=at,
    )
    Post.objects.create(
        thread=thread,
        author=author,
        body_markdown=body,
        body_html=markdown_render_safe(body),
        created_at=at,
    )
    return thread


def submit_checkpoint(challenge: Challenge, user: User, checkpoint: Path) -> Submission:
    """A TransformerNet checkpoint submitted by `user`, through the service, as uploads are."""
    return submission_create(
        user=user,
        challenge=challenge,
        checkpoint_path=checkpoint,
        checkpoint_name=checkpoint.name,
        architecture="transformer_net",
    )
