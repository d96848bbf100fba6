"""End to end on the configured broker and database: API upload → real Celery worker → scored."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.urls import reverse

from competitions.models import Challenge
from competitions.services import participation_join
from scoring.models import ScoringProfile
from submissions.models import Submission
from tests.factories import make_challenge

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
SCORED_WITHIN_S = 180


def database_url() -> str:
    """The URL of the test database this process uses, for the worker to use too."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db["USER"] or ""
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    host = db["HOST"] or "localhost"
    return f"postgres://{user}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker_env(settings, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "ATELIER_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "ATELIER_REAP_INTERVAL_S": "2",
        "ATELIER_DISPATCH_INTERVAL_S": "2",
    }


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *command],
            env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def celery(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Path]:
    """A scoring worker, a default worker and beat, as `make demo` runs them."""
    name = uuid.uuid4().hex[:6]
    processes = [
        start(["worker", "-Q", "scoring", "-P", "solo", "-c", "1", "--prefetch-multiplier", "1",
               "-n", f"scoring-{name}@localhost", "--without-mingle", "--without-gossip"],
              worker_env, tmp_path / "scoring.log"),
        start(["worker", "-Q", "default", "-P", "solo", "-n", f"default-{name}@localhost",
               "--without-mingle", "--without-gossip"], worker_env, tmp_path / "default.log"),
        start(["beat", "--schedule", str(tmp_path / "beat-schedule")], worker_env,
              tmp_path / "beat.log"),
    ]  # fmt: skip
    try:
        yield tmp_path
    finally:
        for process in processes:
            stop(process)


def test_upload_through_the_api_is_scored_by_a_real_worker(
    celery: Path, organizer, participant, tiny_checkpoint: Path
) -> None:
    challenge: Challenge = make_challenge(
        slug="live", organizers=(organizer,), content_public=2, content_hidden=3
    )
    ScoringProfile.objects.create(challenge=challenge, judge_steps=10, gallery_size=2)
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    client = Client()
    client.force_login(participant)

    with tiny_checkpoint.open("rb") as handle:
        response = client.post(
            reverse("api_submission_create", args=[challenge.slug]),
            {"checkpoint": handle, "architecture": "transformer_net", "description": "e2e"},
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued"

    url = reverse("api_submission_detail", args=[body["id"]])
    seen_stages = set()
    deadline = time.monotonic() + SCORED_WITHIN_S
    while time.monotonic() < deadline:
        body = client.get(url).json()
        seen_stages.add(body["stage"].split(" ")[0])
        if body["status"] not in ("queued", "running"):
            break
        time.sleep(0.25)
    logs = "\n".join(path.read_text()[-3000:] for path in sorted(celery.glob("*.log")))
    assert body["status"] == "scored", logs
    assert set(body["scores"]) == {"public"}  # private numbers stay hidden from participants
    submission = Submission.objects.get(pk=body["id"])
    assert body["scores"]["public"]["composite"] is not None, submission.results.first().missing
    assert ScoringProfile.objects.get(challenge=challenge).judge_status == "ready"
    assert seen_stages & {"generating", "preparing", "training", "scoring", "ranking"}
    assert submission.attempts == 1
    assert submission.results.count() == 2
    gallery = list(submission.gallery.all())
    assert len(gallery) == 2
    assert all(default_storage.exists(image.file.name) for image in gallery)
    assert Path(settings.MEDIA_ROOT, gallery[0].file.name).is_file()
