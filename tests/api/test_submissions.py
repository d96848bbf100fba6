"""Submissions in the API: upload with a token, list your own (paginated, by status)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from submissions.models import Submission
from tests.api.conftest import token_client
from tests.leaderboard.helpers import joined as joined_user
from tests.leaderboard.helpers import scored

pytestmark = pytest.mark.django_db


def upload(client, challenge, checkpoint: Path, **fields):
    return client.post(
        reverse("api_submission_create", args=[challenge.slug]),
        {
            "checkpoint": SimpleUploadedFile("generator.safetensors", checkpoint.read_bytes()),
            "architecture": "transformer_net",
            **fields,
        },
        format="multipart",
    )


def test_a_token_uploads_a_submission_and_follows_it(challenge, joined, tiny_checkpoint) -> None:
    client = token_client(joined)
    response = upload(client, challenge, tiny_checkpoint, description="first")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["scores"]) == ("queued", {})
    submission = Submission.objects.get(pk=body["id"])
    assert (submission.participant, submission.description) == (joined, "first")
    detail = client.get(reverse("api_submission_detail", args=[body["id"]])).json()
    assert detail["status"] == "queued"


def test_the_list_holds_only_the_callers_submissions_newest_first(challenge) -> None:
    phase = challenge.phases.get()
    ada, bob = joined_user(challenge, "ada"), joined_user(challenge, "bob")
    older = scored(phase, ada, minute=1)
    newer = scored(phase, ada, minute=2)
    scored(phase, bob, minute=3)
    response = token_client(ada).get(reverse("api_submission_create", args=[challenge.slug]))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [str(newer.pk), str(older.pk)]
    row = body["results"][0]
    assert (row["phase"], row["status"], row["progress"]) == ("Development", "scored", 1.0)


def test_the_list_filters_by_status_and_pages(challenge) -> None:
    phase = challenge.phases.get()
    ada = joined_user(challenge, "ada")
    for minute in range(3):
        scored(phase, ada, minute=minute)
    failed = scored(phase, ada, minute=9)
    Submission.objects.filter(pk=failed.pk).update(status="failed", error_code="crash")
    url = reverse("api_submission_create", args=[challenge.slug])
    client = token_client(ada)
    assert client.get(url, {"status": "failed"}).json()["count"] == 1
    assert client.get(url, {"status": "queued"}).json()["count"] == 0
    page = client.get(url, {"status": "scored", "page_size": 2, "page": 2}).json()
    assert (page["count"], len(page["results"])) == (3, 1)
    bad = client.get(url, {"status": "stuck"})
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "invalid"


def test_outsiders_see_an_empty_list_and_anonymous_clients_must_authenticate(
    challenge, outsider
) -> None:
    scored(challenge.phases.get(), joined_user(challenge, "ada"))
    url = reverse("api_submission_create", args=[challenge.slug])
    assert token_client(outsider).get(url).json()["count"] == 0
    anonymous = token_client().get(url)
    assert anonymous.status_code == 401
    assert anonymous.json()["error_code"] == "not_authenticated"


def test_an_upload_to_an_unknown_challenge_is_not_found(joined, tiny_checkpoint) -> None:
    response = upload(token_client(joined), SimpleNamespace(slug="nope"), tiny_checkpoint)
    assert response.status_code == 404
    assert not Submission.objects.exists()
