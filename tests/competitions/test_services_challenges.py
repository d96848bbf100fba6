"""Publishing, image partitioning and image storage."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from competitions import errors
from competitions.imaging import normalise_image
from competitions.models import Challenge, ChallengeImage
from competitions.services import (
    challenge_image_add,
    challenge_image_delete,
    challenge_publish,
    public_count_for,
)
from config.errors import ApplicationError
from tests.factories import image_bytes, make_challenge

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("hidden", "fraction", "public"),
    [
        (0, 0.3, 0),
        (1, 0.3, 1),
        (2, 0.3, 1),
        (2, 0.99, 1),
        (10, 0.3, 3),
        (10, 0.01, 1),
        (10, 0.99, 9),
        (22, 0.3, 7),
    ],
)
def test_public_count_keeps_one_image_on_each_side(
    hidden: int, fraction: float, public: int
) -> None:
    assert public_count_for(hidden, fraction) == public


def test_hidden_content_is_split_by_sha256(organizer) -> None:
    challenge = make_challenge(slug="split", organizers=(organizer,), content_hidden=10)
    hidden = challenge.images.filter(kind="content", split="hidden").order_by("sha256")
    boards = [image.leaderboard for image in hidden]
    assert boards == ["public"] * 3 + ["private"] * 7
    others = challenge.images.exclude(kind="content", split="hidden")
    assert set(others.values_list("leaderboard", flat=True)) == {""}


def test_adding_and_deleting_images_keeps_the_split_right(
    organizer, django_capture_on_commit_callbacks
) -> None:
    challenge = make_challenge(slug="resplit", organizers=(organizer,), content_hidden=2)
    assert sorted(
        challenge.images.filter(split="hidden").values_list("leaderboard", flat=True)
    ) == ["private", "public"]
    normalised = normalise_image(image_bytes(4242), name="new.png", resolution=32, max_pixels=10**7)
    image = challenge_image_add(
        challenge=challenge, kind="content", split="hidden", normalised=normalised, name="new.png"
    )
    assert default_storage.exists(image.file.name)
    assert challenge.images.filter(leaderboard="public").count() == 1
    assert challenge.images.filter(leaderboard="private").count() == 2

    name = image.file.name
    with django_capture_on_commit_callbacks(execute=True):
        challenge_image_delete(image=image)
    assert not default_storage.exists(name)
    assert challenge.images.filter(leaderboard="private").count() == 1


def test_duplicate_image_is_refused(organizer) -> None:
    challenge = make_challenge(slug="dupes", organizers=(organizer,))
    existing = challenge.images.filter(kind="content").first()
    normalised = normalise_image(
        default_storage.open(existing.file.name).read(),
        name="again.png",
        resolution=32,
        max_pixels=10**7,
    )
    with pytest.raises(ApplicationError) as caught:
        challenge_image_add(
            challenge=challenge,
            kind="content",
            split="hidden",
            normalised=normalised,
            name="again.png",
        )
    assert caught.value.code == "image_duplicate"


def test_publishing_needs_phases_and_images(organizer) -> None:
    challenge = make_challenge(
        slug="empty",
        organizers=(organizer,),
        status="draft",
        content_public=0,
        content_hidden=1,
        style_public=0,
    )
    challenge.phases.all().delete()
    with pytest.raises(ApplicationError) as caught:
        challenge_publish(challenge=challenge)
    assert caught.value.code == "challenge_not_publishable"
    assert caught.value.message == errors.NOT_PUBLISHABLE[1].format(
        reasons="it has no phase; content/public needs at least 1 image(s), it has 0; "
        "content/hidden needs at least 2 image(s), it has 1; "
        "style/public needs at least 1 image(s), it has 0"
    )
    challenge.refresh_from_db()
    assert challenge.status == Challenge.Status.DRAFT


def test_every_hidden_content_image_belongs_to_a_leaderboard(organizer) -> None:
    challenge = make_challenge(slug="boards", organizers=(organizer,), content_hidden=7)
    hidden = ChallengeImage.objects.filter(challenge=challenge, kind="content", split="hidden")
    assert not hidden.filter(leaderboard="").exists()
