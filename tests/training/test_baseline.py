"""Organizer baselines: the command, the task behind the admin action, and who may run them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.admin.sites import site
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from competitions.models import Challenge
from competitions.services import BASELINE_TASK, baseline_request
from competitions.training import baseline_settings
from config.celery import app as celery_app
from config.errors import ApplicationError
from models.loading import CheckpointSpec, validate_checkpoint
from submissions.baseline import baseline_train_and_submit, baseline_train_task
from submissions.models import Submission

pytestmark = pytest.mark.django_db

TINY = ("--steps", "2", "--width", "4", "--crop", "32")


def test_command_trains_and_submits_a_baseline(challenge: Challenge, organizer) -> None:
    out = io.StringIO()
    call_command("train_baseline", challenge.slug, *TINY, stdout=out)
    submission = Submission.objects.get(phase__challenge=challenge)
    assert submission.is_baseline
    assert submission.participant == organizer
    assert submission.architecture == "transformer_net"
    assert (submission.config, submission.io_range) == ({"width": 4}, "0-255")
    assert submission.description == (
        "Baseline: transformer_net width 4, 2 steps of the starter-kit trainer"
    )
    assert f"Baseline submission {submission.pk} queued for {challenge.slug}" in out.getvalue()


def test_command_with_out_only_writes_the_checkpoint(challenge: Challenge, tmp_path: Path) -> None:
    call_command(
        "train_baseline", challenge.slug, *TINY, "--out", str(tmp_path), stdout=io.StringIO()
    )
    info = validate_checkpoint(
        CheckpointSpec(tmp_path / "checkpoint.safetensors", "transformer_net")
    )
    assert info.config == {"width": 4}
    assert (tmp_path / "samples" / "step-000002.png").exists()
    assert not Submission.objects.exists()


def test_command_explains_unknown_challenges_and_users(challenge: Challenge) -> None:
    with pytest.raises(CommandError, match="There is no challenge “nope”"):
        call_command("train_baseline", "nope", *TINY)
    with pytest.raises(CommandError, match="There is no user called “ghost”"):
        call_command("train_baseline", challenge.slug, *TINY, "--user", "ghost")


def test_participants_cannot_submit_baselines(challenge: Challenge, participant) -> None:
    settings = baseline_settings(challenge=challenge, steps=2, width=4, crop=32)
    with pytest.raises(ApplicationError) as caught:
        baseline_train_and_submit(challenge=challenge, user=participant, settings=settings)
    assert caught.value.code == "baseline_forbidden"
    with pytest.raises(ApplicationError):
        baseline_request(challenge=challenge, user=participant, steps=2)
    assert not Submission.objects.exists()


def test_the_task_trains_and_submits_as_the_organizer(challenge: Challenge, organizer) -> None:
    submission_id = baseline_train_task(challenge.pk, organizer.pk, 2)
    submission = Submission.objects.get(pk=submission_id)
    assert submission.is_baseline
    assert submission.description.endswith("2 steps of the starter-kit trainer")


def test_admin_action_queues_the_training_on_the_scoring_queue(
    challenge: Challenge, organizer, django_capture_on_commit_callbacks
) -> None:
    assert "train_baseline" in site._registry[Challenge].actions
    client = Client()
    client.force_login(organizer)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("admin:competitions_challenge_changelist"),
            {"action": "train_baseline", "_selected_action": [challenge.pk]},
            follow=True,
        )
    assert "baseline training queued (300 steps)" in response.content.decode()
    assert len(callbacks) == 1
    # competitions sends the task by its name: the name must be the task's.
    assert celery_app.tasks[BASELINE_TASK].run.__module__ == baseline_train_task.__module__
