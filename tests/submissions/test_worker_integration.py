"""End to end on the configured broker and database: API upload → real Celery worker → scored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from competitions.models import Challenge
from competitions.services import participation_join
from scoring.models import ScoringProfile
from submissions.models import Submission
from tests.factories import make_challenge
from tests.submissions.processes import Celery, celery_like_make_demo

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SCORED_WITHIN_S = 180


@pytest.fixture
def celery(settings, tmp_path: Path) -> Iterator[Celery]:
    with celery_like_make_demo(Path(settings.MEDIA_ROOT), tmp_path) as processes:
        yield processes


def test_upload_through_the_api_is_scored_by_a_real_worker(
    celery: Celery, organizer, participant, tiny_checkpoint: Path
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
    assert body["status"] == "scored", celery.logs_tail()
    assert set(body["scores"]) == {"public"}  # private numbers stay hidden from participants
    submission = Submission.objects.get(pk=body["id"])
    assert body["scores"]["public"]["composite"] is not None, submission.results.first().missing
    # Images this small give too few held-out tiles to trust a judge: it fails its gate, its
    # metrics are missing with the reason, and the composite takes its judge-free form.
    assert ScoringProfile.objects.get(challenge=challenge).judge_status == "failed"
    assert body["missing"]["public"]["judge_realism"].startswith(
        "the challenge's judge failed its check"
    )
    assert seen_stages & {"generating", "preparing", "training", "scoring", "ranking"}
    assert submission.attempts == 1
    assert submission.results.count() == 2
    gallery = list(submission.gallery.all())
    assert len(gallery) == 2
    assert all(default_storage.exists(image.file.name) for image in gallery)
    assert Path(settings.MEDIA_ROOT, gallery[0].file.name).is_file()
