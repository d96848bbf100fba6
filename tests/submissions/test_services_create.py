"""submission_create: who may submit, quotas, validation before acceptance."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from competitions.models import Challenge, Phase
from competitions.services import participation_decide, participation_join
from config.errors import ApplicationError
from models import errors as model_errors
from submissions import errors
from submissions.lifecycle import submission_cancel
from submissions.models import Submission
from submissions.services import submission_create
from tests.factories import make_challenge

pytestmark = pytest.mark.django_db


@pytest.fixture
def joined(challenge: Challenge, participant) -> Challenge:
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    return challenge


def create(user, challenge: Challenge, checkpoint: Path, **kwargs) -> Submission:
    return submission_create(
        user=user,
        challenge=challenge,
        checkpoint_path=checkpoint,
        checkpoint_name=kwargs.pop("name", "generator.safetensors"),
        architecture=kwargs.pop("architecture", "transformer_net"),
        **kwargs,
    )


def refused(code: str, *args, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        create(*args, **kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_participant_submission_is_stored_and_described(
    joined: Challenge, participant, tiny_checkpoint: Path
) -> None:
    submission = create(participant, joined, tiny_checkpoint, description="first try")
    assert submission.status == Submission.Status.QUEUED
    assert submission.phase == joined.phases.get()
    assert submission.config == {"width": 4}
    assert submission.io_range == "0-255"
    assert submission.checkpoint_format == "safetensors"
    assert submission.checkpoint_name == "generator.safetensors"
    assert submission.param_count > 0
    assert default_storage.exists(submission.checkpoint.name)
    assert submission.checkpoint.name == f"submissions/{submission.pk}/checkpoint.safetensors"
    assert submission.log[0]["step"] == "accepted"


def test_outsiders_pending_and_banned_users_cannot_submit(
    challenge: Challenge, organizer, participant, outsider, tiny_checkpoint: Path
) -> None:
    assert (
        refused("not_a_participant", outsider, challenge, tiny_checkpoint).message
        == errors.NOT_PARTICIPANT[1]
    )
    participation = participation_join(user=participant, challenge=challenge, accept_rules=True)
    participation_decide(participation=participation, status="banned", decided_by=organizer)
    refused("participation_refused", participant, challenge, tiny_checkpoint)
    assert not Submission.objects.exists()


def test_pending_participant_waits(organizer, participant, tiny_checkpoint: Path) -> None:
    challenge = make_challenge(slug="curated", organizers=(organizer,), registration="approval")
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    error = refused("participation_pending", participant, challenge, tiny_checkpoint)
    assert error.message == errors.PENDING[1]


def test_closed_phase_refuses(joined: Challenge, participant, tiny_checkpoint: Path) -> None:
    phase = joined.phases.get()
    phase.starts_at = timezone.now() + dt.timedelta(days=1)
    phase.ends_at = timezone.now() + dt.timedelta(days=2)
    phase.save()
    assert (
        refused("phase_closed", participant, joined, tiny_checkpoint).message
        == errors.NO_OPEN_PHASE[1]
    )
    error = refused("phase_closed", participant, joined, tiny_checkpoint, phase_name="Development")
    assert error.message == errors.PHASE_NOT_OPEN[1].format(phase="Development")
    refused("unknown_phase", participant, joined, tiny_checkpoint, phase_name="Final")


def test_daily_quota(joined: Challenge, participant, tiny_checkpoint: Path) -> None:
    Phase.objects.filter(challenge=joined).update(max_per_day=2, max_running=10)
    first = create(participant, joined, tiny_checkpoint)
    create(participant, joined, tiny_checkpoint)
    error = refused("quota_daily", participant, joined, tiny_checkpoint)
    expected_slot = (first.created_at + dt.timedelta(hours=24)).astimezone(dt.UTC)
    assert error.message == errors.QUOTA_DAILY[1].format(limit=2, when=expected_slot)
    # Outside the rolling 24 hours it no longer counts.
    Submission.objects.filter(pk=first.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )
    create(participant, joined, tiny_checkpoint)


def test_total_and_running_quotas(joined: Challenge, participant, tiny_checkpoint: Path) -> None:
    Phase.objects.filter(challenge=joined).update(max_running=1, max_total=2)
    first = create(participant, joined, tiny_checkpoint)
    error = refused("quota_running", participant, joined, tiny_checkpoint)
    assert error.message == errors.QUOTA_RUNNING[1].format(running=1)
    Submission.objects.filter(pk=first.pk).update(status="scored")
    create(participant, joined, tiny_checkpoint)
    Submission.objects.update(status="scored")
    assert refused("quota_total", participant, joined, tiny_checkpoint).message == (
        errors.QUOTA_TOTAL[1].format(limit=2)
    )


@pytest.mark.parametrize(
    ("status", "flag"), [("failed", "quota_counts_failed"), ("cancelled", "quota_counts_cancelled")]
)
def test_failed_and_cancelled_count_as_configured(
    joined: Challenge, participant, tiny_checkpoint: Path, status: str, flag: str
) -> None:
    Phase.objects.filter(challenge=joined).update(max_total=1, max_running=5)
    create(participant, joined, tiny_checkpoint)
    Submission.objects.update(status=status, error_code="x")
    create(participant, joined, tiny_checkpoint)  # does not count by default
    Submission.objects.update(status=status, error_code="x")
    Phase.objects.filter(challenge=joined).update(**{flag: True})
    refused("quota_total", participant, joined, tiny_checkpoint)


def test_bad_checkpoints_fail_in_the_request(
    joined: Challenge, participant, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    notes = tmp_path / "weights.pth"
    notes.write_text("learning rate 1e-3, 2 epochs\n")
    error = refused("unsupported_format", participant, joined, notes, name="weights.pth")
    assert error.message == model_errors.UNRECOGNISED_CONTENT.format(found=model_errors.FOUND_TEXT)
    refused("unknown_architecture", participant, joined, tiny_checkpoint, architecture="gpt")
    refused("config_mismatch", participant, joined, tiny_checkpoint, config={"width": 32})
    Phase.objects.filter(challenge=joined).update(max_params=1000)
    error = refused("too_many_parameters", participant, joined, tiny_checkpoint)
    assert error.message == model_errors.TOO_MANY_PARAMETERS.format(count=28467, limit=1000)
    Phase.objects.filter(challenge=joined).update(max_params=10**9, max_checkpoint_bytes=100)
    refused("file_too_large", participant, joined, tiny_checkpoint)
    assert not Submission.objects.exists()
    assert not default_storage.exists("submissions")


def test_generator_must_match_the_task_kind(organizer, participant, tiny_checkpoint: Path) -> None:
    challenge = make_challenge(slug="arbitrary", organizers=(organizer,))
    Challenge.objects.filter(pk=challenge.pk).update(task_kind="arbitrary_style")
    challenge.refresh_from_db()
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    error = refused("wrong_inputs", participant, challenge, tiny_checkpoint)
    assert error.message == errors.WRONG_INPUTS_ARBITRARY[1]


def test_baselines_are_for_organizers_and_skip_quotas(
    challenge: Challenge, organizer, participant, tiny_checkpoint: Path
) -> None:
    Phase.objects.filter(challenge=challenge).update(max_total=1, max_running=1)
    for _ in range(3):
        baseline = create(organizer, challenge, tiny_checkpoint, is_baseline=True)
        assert baseline.is_baseline
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    refused("baseline_forbidden", participant, challenge, tiny_checkpoint, is_baseline=True)
    create(participant, challenge, tiny_checkpoint)  # baselines used none of this quota


def test_cancel_only_while_active(joined: Challenge, participant, tiny_checkpoint: Path) -> None:
    submission = create(participant, joined, tiny_checkpoint)
    cancelled = submission_cancel(submission=submission, by=participant)
    assert cancelled.status == Submission.Status.CANCELLED
    assert cancelled.finished_at is not None
    with pytest.raises(ApplicationError) as caught:
        submission_cancel(submission=cancelled, by=participant)
    assert caught.value.code == "not_cancellable"
    assert caught.value.message == errors.NOT_CANCELLABLE[1].format(status="cancelled")


def test_model_error_messages_reach_the_caller_unchanged(
    joined: Challenge, participant, tmp_path: Path
) -> None:
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    error = refused("corrupt_file", participant, joined, truncated, name="cut.safetensors")
    assert error.message == model_errors.CORRUPT_FILE.format(format="safetensors")


def test_api_reports_upload_time_errors_with_code_and_detail(
    joined: Challenge, participant, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    client = Client()
    client.force_login(participant)
    url = reverse("api_submission_create", args=[joined.slug])
    bad = tmp_path / "weights.bin"
    bad.write_bytes(b"nothing")
    with bad.open("rb") as handle:
        response = client.post(url, {"checkpoint": handle, "architecture": "transformer_net"})
    assert response.status_code == 400
    assert response.json() == {
        "error_code": "unsupported_format",
        "detail": model_errors.UNRECOGNISED_CONTENT.format(found=model_errors.FOUND_TEXT),
    }
    with tiny_checkpoint.open("rb") as handle:
        response = client.post(url, {"checkpoint": handle, "architecture": "gpt"})
    assert response.json()["error_code"] == "unknown_architecture"
    response = client.post(url, {"architecture": "transformer_net"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "invalid"
    assert "checkpoint" in response.json()["fields"]
    assert Client().post(url, {}).status_code in (401, 403)


def test_submit_form_shows_errors_and_quota(
    joined: Challenge, participant, tiny_checkpoint: Path
) -> None:
    client = Client()
    client.force_login(participant)
    url = reverse("challenge_submit", args=[joined.slug])
    page = client.get(url).content.decode()
    assert "5 of 5 left in the last 24 hours" in page
    with tiny_checkpoint.open("rb") as handle:
        response = client.post(
            url, {"checkpoint": handle, "architecture": "transformer_net", "config": '{"width": 8}'}
        )
    assert "[config_mismatch]" in response.content.decode()
    with tiny_checkpoint.open("rb") as handle:
        response = client.post(
            url, {"checkpoint": handle, "architecture": "transformer_net", "description": "ok"}
        )
    submission = Submission.objects.get()
    assert response["Location"] == submission.get_absolute_url()
    assert "4 of 5 left" in client.get(url).content.decode()
