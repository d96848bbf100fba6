"""A judge that misses its gate is trained again with the next seed before it is FAILED."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings

from competitions.models import Challenge
from scoring.models import ScoringProfile
from scoring.services import JUDGE_ATTEMPTS_FAILED, judge_train
from tests.factories import make_challenge

pytestmark = pytest.mark.django_db


@pytest.fixture
def challenge() -> Challenge:
    challenge = make_challenge(slug="attempts", content_public=3, style_public=2)
    ScoringProfile.objects.create(challenge=challenge, judge_steps=2, judge_seed=7)
    return challenge


def test_a_judge_missing_the_gate_every_time_is_failed_after_every_attempt(
    challenge: Challenge, settings: Settings
) -> None:
    settings.ATELIER_JUDGE_MIN_TILES = 1
    settings.ATELIER_JUDGE_MIN_ACCURACY = 1.01  # no judge can pass
    settings.ATELIER_JUDGE_ATTEMPTS = 3

    profile = judge_train(challenge=challenge)

    attempts = profile.judge_summary["attempts"]
    assert [attempt["seed"] for attempt in attempts] == [7, 8, 9]
    assert not any(attempt["passed"] for attempt in attempts)
    assert profile.judge_status == ScoringProfile.JudgeStatus.FAILED
    best = max(attempts, key=lambda attempt: attempt["accuracy"])
    assert profile.judge_summary["settings"]["seed"] == best["seed"]
    assert profile.judge_error == JUDGE_ATTEMPTS_FAILED.format(
        count=3, reason=profile.judge_summary["failure"]
    )
    assert not profile.judge_file


def test_a_judge_passing_at_once_is_trained_once(challenge: Challenge, settings: Settings) -> None:
    settings.ATELIER_JUDGE_MIN_TILES = 1
    settings.ATELIER_JUDGE_MIN_ACCURACY = 0.0

    profile = judge_train(challenge=challenge)

    assert profile.judge_status == ScoringProfile.JudgeStatus.READY
    assert profile.judge_summary["attempts"] == [
        {"seed": 7, "accuracy": profile.judge_summary["heldout_accuracy"], "passed": True}
    ]


def test_too_few_held_out_tiles_is_not_retried(challenge: Challenge, settings: Settings) -> None:
    settings.ATELIER_JUDGE_MIN_TILES = 100_000  # the images give far fewer, whatever the seed

    profile = judge_train(challenge=challenge)

    assert len(profile.judge_summary["attempts"]) == 1
    assert profile.judge_error.startswith("The judge was checked on")
