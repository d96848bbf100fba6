"""A challenge on its own queue is scored only by a worker started for that queue (the
organizers' machine); another challenge's submission waits, and says for whom."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from competitions.models import Challenge
from competitions.services import participation_join
from scoring.models import ScoringProfile, WorkerQueue
from scoring.presence import presence_forget, presence_record, queue_served
from submissions import lifecycle
from submissions.models import Submission
from submissions.selectors import WAITING_FOR_ORGANIZERS, submission_stage
from tests.factories import make_challenge, submit_checkpoint
from tests.models.checkpoint_files import random_network, save_safetensors
from tests.submissions.processes import Celery, wait_for, worker_environment

SCORED_WITHIN_S = 240
PRESENCE_INTERVAL_S = 1
ABSENT_AFTER_S = 5


@pytest.fixture
def celery(tmp_path: Path) -> Iterator[Celery]:
    env = worker_environment(
        Path(settings.MEDIA_ROOT),
        ATELIER_VGG19_MEMBERS="1",
        ATELIER_WORKER_PRESENCE_INTERVAL_S=str(PRESENCE_INTERVAL_S),
    )
    processes = Celery(env, tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()


def own_queue_challenge(slug: str, organizer, participant) -> Challenge:
    challenge = make_challenge(slug=slug, organizers=(organizer,))
    challenge.scoring_queue = f"scoring.{slug}"
    challenge.full_clean()
    challenge.save(update_fields=["scoring_queue"])
    ScoringProfile.objects.create(challenge=challenge, judge_steps=5, gallery_size=1)
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    return challenge


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_a_challenge_queue_serves_only_that_challenge(
    celery: Celery, organizer, participant, tmp_path: Path, settings
) -> None:
    settings.ATELIER_WORKER_ABSENT_AFTER_S = ABSENT_AFTER_S
    alpha = own_queue_challenge("alpha", organizer, participant)
    beta = own_queue_challenge("beta", organizer, participant)
    checkpoint = save_safetensors(
        random_network("transformer_net", {"width": 8}).state_dict(), tmp_path / "w8.safetensors"
    )
    celery.scoring_worker("alpha-machine", queue="scoring.alpha")
    assert wait_for(lambda: queue_served(queue="scoring.alpha"), timeout=60), celery.logs_tail()

    scored = submit_checkpoint(alpha, participant, checkpoint)
    waiting = submit_checkpoint(beta, participant, checkpoint)

    def alpha_done() -> bool:
        scored.refresh_from_db()
        return scored.status not in Submission.ACTIVE_STATUSES

    assert wait_for(alpha_done, timeout=SCORED_WITHIN_S), celery.logs_tail()
    assert scored.status == Submission.Status.SCORED, scored.log
    waiting.refresh_from_db()
    assert waiting.status == Submission.Status.QUEUED
    assert not queue_served(queue="scoring.beta")
    assert submission_stage(waiting) == WAITING_FOR_ORGANIZERS
    client = Client()
    client.force_login(participant)
    status = client.get(f"/submissions/{waiting.pk}/status.json").json()
    assert status["stage"] == WAITING_FOR_ORGANIZERS
    assert escape(WAITING_FOR_ORGANIZERS) in client.get(waiting.get_absolute_url()).content.decode()
    # The worker's rows say what it consumes, and only that.
    assert set(WorkerQueue.objects.values_list("queue", flat=True)) == {"scoring.alpha"}

    celery.scoring_worker("beta-machine", queue="scoring.beta")

    def beta_done() -> bool:
        waiting.refresh_from_db()
        return waiting.status not in Submission.ACTIVE_STATUSES

    assert wait_for(beta_done, timeout=SCORED_WITHIN_S), celery.logs_tail()
    assert waiting.status == Submission.Status.SCORED, waiting.log


@pytest.mark.django_db
def test_a_queue_is_served_only_while_its_worker_is_seen(settings) -> None:
    settings.ATELIER_WORKER_ABSENT_AFTER_S = 60
    now = timezone.now()
    presence_record(hostname="gpu@lab", queues=["scoring.alpha"], now=now)
    assert queue_served(queue="scoring.alpha", now=now + dt.timedelta(seconds=59))
    assert not queue_served(queue="scoring.alpha", now=now + dt.timedelta(seconds=61))
    assert not queue_served(queue="scoring.beta", now=now)
    presence_forget(hostname="gpu@lab")
    assert not queue_served(queue="scoring.alpha", now=now)


@pytest.mark.django_db
@pytest.mark.parametrize("queue", ["scoring", "scoring.alpha", "scoring.gpu-lab_2"])
def test_scoring_queue_names_accepted(queue: str) -> None:
    challenge = make_challenge(slug="named")
    challenge.scoring_queue = queue
    challenge.full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize("queue", ["", "default", "scoring.", "scoring.Alpha", "scoring.a b", "x"])
def test_scoring_queue_names_refused(queue: str) -> None:
    challenge = make_challenge(slug="named")
    challenge.scoring_queue = queue
    with pytest.raises(ValidationError) as caught:
        challenge.full_clean()
    assert "scoring_queue" in caught.value.message_dict


@pytest.mark.django_db
def test_the_dispatcher_and_the_reaper_send_to_the_challenge_queue(
    organizer, participant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(
        lifecycle.score, "apply_async", lambda args, queue: sent.append((args[0], queue))
    )
    challenge = own_queue_challenge("gamma", organizer, participant)
    checkpoint = save_safetensors(
        random_network("transformer_net", {"width": 8}).state_dict(), tmp_path / "w8.safetensors"
    )
    submission = submit_checkpoint(
        challenge, participant, checkpoint
    )  # its on_commit never runs here

    assert lifecycle.submissions_dispatch() == 1
    claimed = lifecycle.submission_claim(submission_id=str(submission.pk), worker="gpu@lab")
    assert claimed is not None
    later = timezone.now() + dt.timedelta(seconds=settings.ATELIER_HEARTBEAT_TIMEOUT_S + 1)
    assert lifecycle.submissions_reap(now=later) == {"requeued": 1, "failed": 0}
    assert sent == [(str(submission.pk), "scoring.gamma")] * 2
