"""Uploads through the API are recognised by their bytes: a published `.model` file is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from competitions.models import Challenge
from competitions.services import participation_join
from models import errors as model_errors
from submissions.models import Submission
from tests.api.conftest import token_client
from tests.models.conftest import REALWORLD

pytestmark = pytest.mark.django_db

CANDY = "candy_nc8_b1_e2_1e05_1e10.model"
CANDY_SHA256 = "5fa695eea565504294b4a00535a092d7cc5dc3097963cbbd47fef0ba4c284df5"


@pytest.fixture
def client(challenge: Challenge, participant: User) -> APIClient:
    """``participant``'s token client, joined to challenge A."""
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    return token_client(participant)


@pytest.fixture
def published_model() -> Path:
    path = REALWORLD / "checkpoints" / CANDY
    if not path.is_file():
        pytest.skip(f"the real-world fixtures are not at {REALWORLD}")
    return path


def upload(client: APIClient, challenge: Challenge, name: str, content: bytes):
    return client.post(
        reverse("api_submission_create", args=[challenge.slug]),
        {
            "checkpoint": SimpleUploadedFile(name, content),
            "architecture": "transformer_net",
        },
        format="multipart",
    )


def test_a_published_model_file_is_accepted(
    client: APIClient, challenge: Challenge, published_model: Path
) -> None:
    response = upload(client, challenge, CANDY, published_model.read_bytes())

    assert response.status_code == 201, response.json()
    submission = Submission.objects.get(pk=response.json()["id"])
    assert (submission.checkpoint_format, submission.config) == ("torch", {"width": 8})
    assert (submission.checkpoint_name, submission.checkpoint_sha256) == (CANDY, CANDY_SHA256)
    # Stored under the extension of what it holds, not of what it was called.
    assert submission.checkpoint.name == f"submissions/{submission.pk}/checkpoint.pt"


def test_a_checkpoint_without_an_extension_is_accepted(
    client: APIClient, challenge: Challenge, tiny_checkpoint: Path
) -> None:
    response = upload(client, challenge, "generator", tiny_checkpoint.read_bytes())

    assert response.status_code == 201, response.json()
    submission = Submission.objects.get(pk=response.json()["id"])
    assert submission.checkpoint_format == "safetensors"
    assert submission.checkpoint.name == f"submissions/{submission.pk}/checkpoint.safetensors"


def test_a_file_named_model_that_is_no_checkpoint_is_refused_with_what_it_is(
    client: APIClient, challenge: Challenge
) -> None:
    page = b"<!DOCTYPE html>\n<html><body>Sign in to download</body></html>\n"

    response = upload(client, challenge, "candy.model", page)

    assert response.status_code == 400
    assert response.json() == {
        "error_code": "unsupported_format",
        "detail": model_errors.UNRECOGNISED_CONTENT.format(found=model_errors.FOUND_WEB_PAGE),
    }
    assert not Submission.objects.exists()
