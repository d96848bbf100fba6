"""Hostile JSON sent to the API: nested 100,000 deep, oversized or malformed, as a body or as
the upload's config field, is answered 400 invalid_json, never 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pytest_django.fixtures import Settings

from config.parsing import INVALID_JSON, JSON_TOO_DEEP, JSON_TOO_LARGE
from submissions.models import Submission
from tests.api.conftest import token_client
from tests.leaderboard.helpers import scored

pytestmark = pytest.mark.django_db
DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"":' * 100_000 + "true" + "}" * 100_000


def post_json(user, url: str, body: str):  # type: ignore[no-untyped-def]
    return token_client(user).post(url, body, content_type="application/json")


def assert_refused(response, message: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.content[:200]
    assert response.json() == {"error_code": INVALID_JSON, "detail": message}


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
def test_joining_with_a_deep_body_is_refused(challenge, participant, body: str) -> None:
    response = post_json(participant, reverse("api_challenge_join", args=[challenge.slug]), body)
    assert_refused(response, JSON_TOO_DEEP.format(limit=64))


def test_a_deep_forum_thread_is_refused(challenge, joined) -> None:
    response = post_json(joined, reverse("api_forum_threads", args=[challenge.slug]), DEEP)
    assert_refused(response, JSON_TOO_DEEP.format(limit=64))


def test_a_deep_final_selection_is_refused(challenge, joined) -> None:
    submission = scored(challenge.phases.get(), joined)
    url = reverse("api_submission_final_select", args=[submission.pk])
    assert_refused(post_json(joined, url, DEEP), JSON_TOO_DEEP.format(limit=64))
    assert not Submission.objects.get(pk=submission.pk).selected_for_final


def test_oversized_and_malformed_bodies_are_refused(
    challenge, participant, settings: Settings
) -> None:
    url = reverse("api_challenge_join", args=[challenge.slug])
    settings.ATELIER_JSON_MAX_BYTES = 100
    body = '{"accept_rules": true, "padding": "' + "x" * 200 + '"}'
    assert_refused(post_json(participant, url, body), JSON_TOO_LARGE.format(limit=100))
    malformed = post_json(participant, url, '{"accept_rules": tru')
    assert (malformed.status_code, malformed.json()["error_code"]) == (400, INVALID_JSON)
    joined = post_json(participant, url, '{"accept_rules": true}')
    assert joined.status_code == 200, joined.json()


def test_a_deep_upload_config_is_refused(challenge, joined, tiny_checkpoint: Path) -> None:
    response = token_client(joined).post(
        reverse("api_submission_create", args=[challenge.slug]),
        {
            "checkpoint": SimpleUploadedFile("g.safetensors", tiny_checkpoint.read_bytes()),
            "architecture": "transformer_net",
            "config": DEEP,
        },
        format="multipart",
    )
    assert_refused(response, "config: " + JSON_TOO_DEEP.format(limit=64))
    assert not Submission.objects.exists()
