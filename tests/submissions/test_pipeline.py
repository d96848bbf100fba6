"""Scoring one submission in-process: claim, generate, score, record; failures and takeovers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from competitions.models import Challenge, Phase
from competitions.services import participation_join
from scoring.models import GalleryImage, Result, ScoringProfile
from submissions.lifecycle import (
    submission_claim,
    submission_score,
    submissions_dispatch,
    submissions_reap,
)
from submissions.models import Submission
from submissions.services import submission_create
from tests.factories import make_challenge, submit_checkpoint

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scored_challenge(organizer, participant, settings) -> Challenge:
    # These tiny images cannot give a judge enough held-out tiles to pass the gate; the tests
    # of this module are about the pipeline, so the bar is lowered (the gate has its own).
    settings.ATELIER_JUDGE_MIN_ACCURACY = 0.0
    settings.ATELIER_JUDGE_MIN_TILES = 1
    challenge = make_challenge(
        slug="pipeline",
        organizers=(organizer,),
        content_public=3,
        content_hidden=4,
        style_public=2,
    )
    ScoringProfile.objects.create(challenge=challenge, judge_steps=10, gallery_size=2)
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    return challenge


def test_a_submission_is_scored_on_both_leaderboards(
    scored_challenge: Challenge, participant, tiny_checkpoint: Path
) -> None:
    submission = submit_checkpoint(scored_challenge, participant, tiny_checkpoint)
    assert submission_score(submission_id=str(submission.pk), worker="test@here") == "scored"

    submission.refresh_from_db()
    assert submission.status == Submission.Status.SCORED
    assert (submission.stage, submission.progress, submission.attempts) == ("scored", 1.0, 1)
    assert submission.scoring_fingerprint["network"] == "random-texture"
    results = {result.leaderboard: result for result in submission.results.all()}
    assert set(results) == {"public", "private"}
    assert results["public"].images == 1
    assert results["private"].images == 3
    for result in results.values():
        assert result.composite is not None
        assert result.content_distance >= 0
        assert 0 <= result.judge_realism <= 1
        assert result.calibrated is False
    gallery = list(GalleryImage.objects.filter(submission=submission))
    assert [image.position for image in gallery] == [0, 1]
    for image in gallery:
        assert image.content_image.split == "public"
        assert default_storage.exists(image.file.name)
    steps = [entry["step"] for entry in submission.log]
    assert steps[0] == "accepted"
    assert "generated and scored" in steps
    assert steps[-1] == "scored"
    assert mail.outbox[-1].subject == "Your submission to Pipeline is scored"


def test_a_scored_submission_cannot_be_claimed_again(
    scored_challenge: Challenge, participant, tiny_checkpoint: Path
) -> None:
    submission = submit_checkpoint(scored_challenge, participant, tiny_checkpoint)
    submission_score(submission_id=str(submission.pk), worker="first")
    assert submission_score(submission_id=str(submission.pk), worker="second") == "not claimable"
    assert Result.objects.filter(submission=submission).count() == 2
    submission.refresh_from_db()
    assert submission.attempts == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("architecture", "code"),
    [
        ("test_nans", "non_finite_output"),
        ("test_shrinker", "bad_output_shape"),
        ("test_greyscale", "bad_output_shape"),
        ("test_hog", "memory_limit"),
        ("test_suicide", "child_crashed"),
        ("test_sleeper", "time_limit"),
    ],
)
def test_participant_faults_fail_with_their_code_on_page_and_api(
    scored_challenge: Challenge,
    participant,
    faulty_generators,
    faulty_checkpoint: Path,
    architecture: str,
    code: str,
) -> None:
    # Short for the sleeper, whose fault is the time; ample for the others, so that a busy
    # machine cannot turn their fault (a hog's gigabyte written slowly) into the time limit.
    time_limit_s = 3 if code == "time_limit" else 60
    Phase.objects.filter(challenge=scored_challenge).update(time_limit_s=time_limit_s)
    submission = submission_create(
        user=participant,
        challenge=scored_challenge,
        checkpoint_path=faulty_checkpoint,
        checkpoint_name="faulty.safetensors",
        architecture=architecture,
    )
    assert submission_score(submission_id=str(submission.pk), worker="t") == f"failed: {code}"
    submission.refresh_from_db()
    assert submission.status == Submission.Status.FAILED
    assert submission.error_code == code
    assert submission.error_message
    assert not submission.results.exists()
    assert mail.outbox[-1].subject == "Your submission to Pipeline failed"
    assert submission.error_message in mail.outbox[-1].body

    client = Client()
    client.force_login(participant)
    page = client.get(submission.get_absolute_url()).content.decode()
    assert f"<strong>{code}</strong>: {escape(submission.error_message)}" in page
    status = client.get(reverse("submission_status", args=[submission.pk])).json()
    assert (status["status"], status["error_code"]) == ("failed", code)
    assert status["error_message"] == submission.error_message


def test_reaper_requeues_a_submission_whose_worker_died(
    scored_challenge: Challenge, participant, tiny_checkpoint: Path
) -> None:
    submission = submit_checkpoint(scored_challenge, participant, tiny_checkpoint)
    assert submission_claim(submission_id=str(submission.pk), worker="doomed") is not None
    # The worker dies: its heartbeat stops.
    Submission.objects.filter(pk=submission.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert submissions_reap() == {"requeued": 1, "failed": 0}
    submission.refresh_from_db()
    assert submission.status == Submission.Status.QUEUED
    assert submission_score(submission_id=str(submission.pk), worker="survivor") == "scored"
    submission.refresh_from_db()
    assert submission.attempts == 2
    assert Result.objects.filter(submission=submission).count() == 2


def test_reaper_fails_after_the_last_attempt(
    scored_challenge: Challenge, participant, tiny_checkpoint: Path, settings
) -> None:
    settings.ATELIER_SCORING_MAX_ATTEMPTS = 1
    submission = submit_checkpoint(scored_challenge, participant, tiny_checkpoint)
    submission_claim(submission_id=str(submission.pk), worker="doomed")
    Submission.objects.filter(pk=submission.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert submissions_reap() == {"requeued": 0, "failed": 1}
    submission.refresh_from_db()
    assert submission.status == Submission.Status.FAILED
    assert submission.error_code == "scoring_interrupted"


def test_a_stale_worker_cannot_overwrite_the_takeover(
    scored_challenge: Challenge, participant, tiny_checkpoint: Path
) -> None:
    submission = submit_checkpoint(scored_challenge, participant, tiny_checkpoint)
    submission_claim(submission_id=str(submission.pk), worker="slow")
    Submission.objects.filter(pk=submission.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(hours=1)
    )
    # A redelivered task takes over the silent attempt directly.
    assert submission_score(submission_id=str(submission.pk), worker="fast") == "scored"
    submission.refresh_from_db()
    assert (submission.attempts, submission.worker) == (2, "fast")


def test_dispatcher_resends_queued_submissions_without_a_task(
    scored_challenge: Challenge, participant, tiny_checkpoint: Path
) -> None:
    submission = submit_checkpoint(scored_challenge, participant, tiny_checkpoint)
    Submission.objects.filter(pk=submission.pk).update(enqueued_at=None)
    assert submissions_dispatch() == 1
    submission.refresh_from_db()
    assert submission.enqueued_at is not None
    assert submissions_dispatch() == 0  # sent recently: not again


def test_a_judge_that_fails_its_gate_never_scores(
    organizer, participant, tiny_checkpoint: Path
) -> None:
    challenge = make_challenge(
        slug="gated", organizers=(organizer,), content_public=3, content_hidden=4, style_public=2
    )
    ScoringProfile.objects.create(challenge=challenge, judge_steps=10, gallery_size=1)
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    submission = submit_checkpoint(challenge, participant, tiny_checkpoint)
    assert submission_score(submission_id=str(submission.pk), worker="test@here") == "scored"

    profile = ScoringProfile.objects.get(challenge=challenge)
    assert profile.judge_status == ScoringProfile.JudgeStatus.FAILED
    assert profile.judge_error.startswith("The judge was checked on")
    assert not profile.judge_file
    for result in submission.results.all():
        assert result.judge_realism is None
        assert result.deception_rate is None
        assert result.missing["judge_realism"] == (
            f"the challenge's judge failed its check: {profile.judge_error}"
        )
        assert result.composite is not None  # the judge-free form
        assert result.judge_sha256 == ""
