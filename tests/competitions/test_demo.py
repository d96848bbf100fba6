"""The demo: procedural images are reproducible, seed_demo is idempotent."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from competitions.demo import DEMO_SLUG, IDENTITY_DESCRIPTION, demo_seed
from competitions.models import Challenge, Participation
from competitions.procedural import STYLE_FAMILIES, landscape, style_image
from scoring.models import Result
from submissions.models import Submission
from submissions.pipeline import submission_score
from tests.config.test_settings import PRODUCTION_ENV, ROOT, clean_env

# The step budget of the CI test of the trained baseline (the demo trains 300).
CI_BASELINE_STEPS = 200


def pixels(image) -> np.ndarray:
    return np.asarray(image)


def test_same_seed_same_images() -> None:
    assert np.array_equal(pixels(landscape(5, 3)), pixels(landscape(5, 3)))
    for family in STYLE_FAMILIES:
        assert np.array_equal(pixels(style_image(5, family, 0)), pixels(style_image(5, family, 0)))


def test_other_seed_or_index_other_images() -> None:
    assert not np.array_equal(pixels(landscape(5, 3)), pixels(landscape(6, 3)))
    assert not np.array_equal(pixels(landscape(5, 3)), pixels(landscape(5, 4)))
    assert not np.array_equal(
        pixels(style_image(5, "mosaic", 0)), pixels(style_image(5, "mosaic", 1))
    )


def test_landscapes_look_like_landscapes() -> None:
    image = pixels(landscape(11, 0)).astype(float)
    sky, ground = image[:20].mean(axis=(0, 1)), image[-40:].mean(axis=(0, 1))
    assert sky[2] > sky[0]  # a bluish sky
    assert image[:20].mean() > image[-40:].mean() or ground[2] > ground[0]
    assert image.std() > 20  # not a flat colour


@pytest.mark.django_db
def test_seed_demo_is_idempotent() -> None:
    out = io.StringIO()
    call_command("seed_demo", "--no-baseline", stdout=out)
    call_command("seed_demo", "--no-baseline", stdout=out)
    text = out.getvalue()
    assert "Created the demo challenge “Paint the Valley” (paint-the-valley)." in text
    assert "Found the demo challenge “Paint the Valley” (paint-the-valley)." in text
    assert "organizer   / atelier-demo" in text

    challenge = Challenge.objects.get(slug=DEMO_SLUG)
    assert Challenge.objects.count() == 1
    assert challenge.status == Challenge.Status.PUBLISHED
    assert challenge.images.filter(kind="content").count() >= 24
    assert challenge.images.filter(kind="style").count() >= 6
    assert challenge.images.filter(kind="content", split="public").exists()
    assert challenge.images.filter(leaderboard="public").exists()
    assert challenge.images.filter(leaderboard="private").exists()

    users = get_user_model().objects
    organizer = users.get(username="organizer")
    assert organizer.is_staff
    assert organizer.check_password("atelier-demo")
    assert challenge.organizers.filter(pk=organizer.pk).exists()
    participant = users.get(username="participant")
    assert not participant.is_staff
    assert Participation.objects.get(user=participant, challenge=challenge).is_approved


def test_seed_demo_refuses_production_settings() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"],
        env=clean_env(DJANGO_SETTINGS_MODULE="config.settings.production", **PRODUCTION_ENV),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "refusing under production settings without --force" in result.stderr


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_trained_demo_baseline_beats_the_identity_baseline() -> None:
    """The demo's two baselines, scored by the real pipeline on the demo challenge: the
    trained TransformerNet (fixed seed, CI_BASELINE_STEPS steps) must have a lower style
    distance and a lower default composite than the photo left unchanged, on both boards."""
    out = io.StringIO()
    call_command("seed_demo", "--baseline-steps", str(CI_BASELINE_STEPS), stdout=out)
    baselines = Submission.objects.filter(is_baseline=True)
    identity = baselines.get(description=IDENTITY_DESCRIPTION)
    trained = baselines.exclude(description=IDENTITY_DESCRIPTION).get()
    assert f"baseline queued: {trained.description}" in out.getvalue()
    assert (identity.architecture, identity.participant.username) == ("exported", "organizer")
    assert (trained.architecture, trained.config) == ("transformer_net", {"width": 8})
    for submission in (identity, trained):
        assert submission_score(submission_id=str(submission.pk), worker="test") == "scored"
    for board in ("public", "private"):
        before = Result.objects.get(submission=identity, leaderboard=board)
        after = Result.objects.get(submission=trained, leaderboard=board)
        assert before.content_distance == 0.0
        assert after.style_distance < before.style_distance, board
        assert after.composite < before.composite, board
    # Seeding again finds both baselines and trains nothing.
    assert demo_seed(password="pw", baseline_steps=CI_BASELINE_STEPS).baselines == []
    assert baselines.count() == 2
