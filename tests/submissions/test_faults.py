"""Faults on the real stack: a worker killed mid-generation, a broker that loses its queue.

No submission may be lost or stranded: each ends `scored`, exactly once.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from kombu import Connection

from competitions.models import Challenge
from competitions.services import participation_join
from scoring.models import Result, ScoringProfile
from submissions.models import Submission
from tests import services
from tests.factories import make_challenge, submit_checkpoint
from tests.models.checkpoint_files import random_network, save_safetensors
from tests.submissions.processes import Celery, wait_for, worker_environment

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
HEARTBEAT_TIMEOUT_S = 8
FINISH_WITHIN_S = 240
REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


@pytest.fixture
def celery(tmp_path: Path) -> Iterator[Celery]:
    env = worker_environment(
        Path(settings.MEDIA_ROOT),
        ATELIER_HEARTBEAT_TIMEOUT_S=str(HEARTBEAT_TIMEOUT_S),
        ATELIER_DISPATCH_AFTER_S="3",
        # The faults under test are the pipeline's, not the metrics': one metric network
        # instead of the default ensemble of three keeps each scoring pass short.
        ATELIER_VGG19_MEMBERS="1",
    )
    processes = Celery(env, tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
def slow_challenge(organizer, participant) -> Challenge:
    """Enough test photos at 256 px that generating them takes seconds, not milliseconds."""
    challenge = make_challenge(
        slug="slow",
        organizers=(organizer,),
        resolution=256,
        content_public=2,
        content_hidden=24,
        style_public=2,
    )
    ScoringProfile.objects.create(challenge=challenge, judge_steps=5, gallery_size=1)
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    return challenge


@pytest.fixture(scope="module")
def wide_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    network = random_network("transformer_net", {"width": 32})
    return save_safetensors(
        network.state_dict(), tmp_path_factory.mktemp("wide") / "w32.safetensors"
    )


def finished(*pks: object) -> bool:
    return not Submission.objects.filter(pk__in=pks, status__in=("queued", "running")).exists()


def test_worker_killed_while_generating(
    celery: Celery, slow_challenge: Challenge, participant, wide_checkpoint: Path
) -> None:
    celery.default_worker_and_beat()
    celery.scoring_worker("doomed")
    submission = submit_checkpoint(slow_challenge, participant, wide_checkpoint)

    def generating() -> bool:
        submission.refresh_from_db()
        return submission.stage.startswith("generating")

    assert wait_for(generating, timeout=FINISH_WITHIN_S, interval=0.05), celery.logs_tail()
    celery.kill("doomed")
    celery.scoring_worker("survivor")

    assert wait_for(lambda: finished(submission.pk), timeout=FINISH_WITHIN_S), celery.logs_tail()
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SCORED, submission.log
    assert submission.attempts == 2
    assert Result.objects.filter(submission=submission).count() == 2
    assert [entry["step"] for entry in submission.log].count("scored") == 1
    assert any(entry["step"] == "reaped" for entry in submission.log)


def lose_the_queue() -> None:
    """Restart the broker and lose every message it held."""
    if services.broker_kind() == "redis":
        subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], check=False)
        assert wait_for(lambda: services.redis_problem() is not None, timeout=10)
        subprocess.run(REDIS_START, check=True)
        assert wait_for(lambda: services.redis_problem() is None, timeout=10)
    else:
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        for message in folder.iterdir():
            message.unlink()


def queued_messages() -> int:
    with Connection(
        settings.CELERY_BROKER_URL, transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS
    ) as conn:
        try:
            return conn.default_channel.queue_declare("scoring", passive=True).message_count
        except Exception:  # the queue does not exist (yet or any more)
            return 0


def test_broker_restart_while_queued_loses_nothing(
    celery: Celery, organizer, participant, tiny_checkpoint: Path
) -> None:
    challenge = make_challenge(slug="restart", organizers=(organizer,))
    ScoringProfile.objects.create(challenge=challenge, judge_steps=5, gallery_size=1)
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    challenge.phases.update(max_running=10)
    submissions = [submit_checkpoint(challenge, participant, tiny_checkpoint) for _ in range(3)]
    pks = [submission.pk for submission in submissions]
    assert wait_for(lambda: queued_messages() >= 3, timeout=10)

    lose_the_queue()
    assert queued_messages() == 0

    celery.default_worker_and_beat()
    celery.scoring_worker("scoring")
    assert wait_for(lambda: finished(*pks), timeout=FINISH_WITHIN_S), celery.logs_tail()
    for submission in Submission.objects.filter(pk__in=pks):
        assert submission.status == Submission.Status.SCORED, submission.log
        assert submission.results.count() == 2
