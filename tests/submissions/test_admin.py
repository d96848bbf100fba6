"""Submissions and scoring profiles in the organizers' admin."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from competitions.models import Challenge
from competitions.services import participation_join
from scoring.engine.judge import judge_bytes
from scoring.models import Result, ScoringProfile
from submissions.models import Submission
from submissions.services import submission_create
from tests.models.checkpoint_files import random_network

pytestmark = pytest.mark.django_db


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def submit(challenge: Challenge, user, checkpoint: Path) -> Submission:
    participation_join(user=user, challenge=challenge, accept_rules=True)
    return submission_create(
        user=user,
        challenge=challenge,
        checkpoint_path=checkpoint,
        checkpoint_name="g.safetensors",
        architecture="transformer_net",
    )


def test_organizers_see_only_their_submissions(
    challenge, other_challenge, organizer, participant, outsider, tiny_checkpoint
) -> None:
    mine = submit(challenge, participant, tiny_checkpoint)
    theirs = submit(other_challenge, outsider, tiny_checkpoint)
    page = admin_client(organizer).get(reverse("admin:submissions_submission_changelist"))
    text = page.content.decode()
    assert str(mine.pk)[:8] in text
    assert str(theirs.pk)[:8] not in text
    foreign = reverse("admin:submissions_submission_change", args=[theirs.pk])
    assert admin_client(organizer).get(foreign).status_code == 302


def test_rescore_keeps_results_until_replaced(
    challenge, organizer, participant, tiny_checkpoint
) -> None:
    submission = submit(challenge, participant, tiny_checkpoint)
    Submission.objects.filter(pk=submission.pk).update(status="scored", attempts=1)
    Result.objects.create(
        submission=submission,
        leaderboard="public",
        composite=2.0,
        references_key="k",
        images=1,
        fingerprint={},
    )
    admin_client(organizer).post(
        reverse("admin:submissions_submission_changelist"),
        {"action": "rescore", "_selected_action": [submission.pk]},
    )
    submission.refresh_from_db()
    assert (submission.status, submission.attempts) == ("queued", 0)
    assert submission.results.get().composite == 2.0
    assert submission.log[-1]["step"] == "rescore requested"


def test_cancel_action(challenge, organizer, participant, tiny_checkpoint) -> None:
    submission = submit(challenge, participant, tiny_checkpoint)
    admin_client(organizer).post(
        reverse("admin:submissions_submission_changelist"),
        {"action": "cancel", "_selected_action": [submission.pk]},
    )
    submission.refresh_from_db()
    assert submission.status == "cancelled"


def test_profiles_appear_for_organized_challenges_only(challenge, other_challenge, organizer):
    page = admin_client(organizer).get(reverse("admin:scoring_scoringprofile_changelist"))
    assert page.status_code == 200
    assert ScoringProfile.objects.filter(challenge=challenge).exists()
    assert not ScoringProfile.objects.filter(challenge=other_challenge).exists()


def test_judge_upload_is_validated_and_marks_results_stale(
    challenge, organizer, participant, tiny_checkpoint, settings
) -> None:
    submission = submit(challenge, participant, tiny_checkpoint)
    Result.objects.create(
        submission=submission,
        leaderboard="public",
        composite=2.0,
        references_key="k",
        images=1,
        fingerprint={},
        judge_sha256="old",
    )
    profile = ScoringProfile.objects.create(challenge=challenge)
    url = reverse("admin:scoring_scoringprofile_change", args=[profile.pk])
    fields = {
        "prototypes": 1,
        "frechet_epsilon": 1e-6,
        "gallery_size": 4,
        "judge_steps": 50,
        "judge_seed": 0,
    }
    client = admin_client(organizer)
    bad = client.post(
        url,
        {**fields, "judge_upload": SimpleUploadedFile("j.safetensors", b"nonsense")},
        follow=True,
    )
    assert "Judge refused" in bad.content.decode()
    profile.refresh_from_db()
    assert profile.judge_status == "none"

    # A valid PatchGAN that knows nothing: refused by the same gate as a trained judge.
    judge = random_network("patch_discriminator", {"width": 4, "n_layers": 2, "norm": "instance"})
    data = judge_bytes(judge)
    refused = client.post(
        url, {**fields, "judge_upload": SimpleUploadedFile("j.safetensors", data)}, follow=True
    )
    messages = [str(message) for message in refused.context["messages"]]
    # These tiny images give too few held-out tiles to trust any judge.
    assert messages[0].startswith("Judge refused: The judge was checked on"), messages
    profile.refresh_from_db()
    assert profile.judge_status == "none"
    assert not Result.objects.get(submission=submission).stale

    # With the bar lowered by the operator, the same judge passes and replaces the old one.
    settings.ATELIER_JUDGE_MIN_ACCURACY = 0.0
    settings.ATELIER_JUDGE_MIN_TILES = 1
    client.post(url, {**fields, "judge_upload": SimpleUploadedFile("j.safetensors", data)})
    profile.refresh_from_db()
    assert profile.judge_status == "ready"
    assert profile.judge_uploaded
    assert profile.judge_summary["heldout_tiles"] > 0
    assert 0.5 <= profile.judge_threshold <= 1.0
    assert Result.objects.get(submission=submission).stale
