"""ONNX through the API: the published exports are accepted and scored like their state dicts;
a graph exported for another resolution, or with its weights in another file, is refused."""

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
from scoring.models import ScoringProfile
from submissions.lifecycle import submission_score
from submissions.models import Submission
from tests.api.conftest import token_client
from tests.factories import make_challenge
from tests.models.conftest import REALWORLD
from tests.models.onnx_files import conv_weights, external, model, saved

pytestmark = pytest.mark.django_db(transaction=True)
# Every metric mean of a result, compared between the ONNX export and its state dict.
COMPARED = ("composite", "content_distance", "style_distance", "palette_distance", "judge_realism")


@pytest.fixture
def exports() -> Path:
    if not (REALWORLD / "onnx").is_dir():
        pytest.skip(f"the real-world fixtures are not at {REALWORLD}")
    return REALWORLD


@pytest.fixture
def challenge_256(organizer: User, settings) -> Challenge:  # type: ignore[no-untyped-def]
    # Tiny generated sets cannot pass the judge gate; the judge only has to be the same for
    # both uploads here.
    settings.ATELIER_JUDGE_MIN_ACCURACY = 0.0
    settings.ATELIER_JUDGE_MIN_TILES = 1
    challenge = make_challenge(
        slug="onnx-256",
        organizers=(organizer,),
        resolution=256,
        content_public=1,
        content_hidden=2,
        style_public=1,
    )
    ScoringProfile.objects.create(challenge=challenge, judge_steps=10, gallery_size=1)
    return challenge


def client_for(user: User, challenge: Challenge) -> APIClient:
    participation_join(user=user, challenge=challenge, accept_rules=True)
    return token_client(user)


def upload(client: APIClient, challenge: Challenge, path: Path, architecture: str):
    return client.post(
        reverse("api_submission_create", args=[challenge.slug]),
        {
            "checkpoint": SimpleUploadedFile(path.name, path.read_bytes()),
            "architecture": architecture,
        },
        format="multipart",
    )


def scored(client: APIClient, challenge: Challenge, path: Path, architecture: str) -> dict:
    response = upload(client, challenge, path, architecture)
    assert response.status_code == 201, response.json()
    identifier = response.json()["id"]
    assert submission_score(submission_id=identifier, worker="test") == "scored"
    submission = Submission.objects.get(pk=identifier)
    return {result.leaderboard: result for result in submission.results.all()}


@pytest.mark.slow
def test_the_published_exports_upload_and_score_as_their_state_dicts(
    challenge_256: Challenge, participant: User, exports: Path
) -> None:
    client = client_for(participant, challenge_256)

    candy_graph = scored(
        client, challenge_256, exports / "onnx" / "candy_nc16_256x256.onnx", "onnx"
    )
    candy_weights = scored(
        client,
        challenge_256,
        exports / "checkpoints" / "candy_transformernet_w16.pth",
        "transformer_net",
    )
    mosaic_graph = scored(
        client, challenge_256, exports / "onnx" / "mosaic_nc8_256x256.onnx", "onnx"
    )

    submission = Submission.objects.filter(architecture="onnx").earliest("created_at")
    assert (submission.checkpoint_format, submission.io_range) == ("onnx", "0-255")
    assert submission.checkpoint.name == f"submissions/{submission.pk}/checkpoint.onnx"
    assert submission.config["size"] == [256, 256]
    for board, result in candy_graph.items():
        for name in COMPARED:
            graph, weights = getattr(result, name), getattr(candy_weights[board], name)
            assert graph == pytest.approx(weights, rel=0.01), (board, name)
    assert set(mosaic_graph) == {"public", "private"}
    assert all(result.composite is not None for result in mosaic_graph.values())


def test_a_graph_exported_for_another_resolution_is_refused(
    challenge: Challenge, participant: User, exports: Path
) -> None:
    client = client_for(participant, challenge)

    response = upload(client, challenge, exports / "onnx" / "candy_nc16_256x256.onnx", "onnx")

    assert response.status_code == 400
    size = f"{challenge.resolution}×{challenge.resolution}"
    assert response.json() == {
        "error_code": "bad_input_signature",
        "detail": model_errors.WRONG_RESOLUTION.format(found="256×256", expected=size),
    }
    assert not Submission.objects.exists()


def test_a_graph_with_external_weights_is_refused_and_nothing_is_stored(
    challenge: Challenge, participant: User, tmp_path: Path
) -> None:
    client = client_for(participant, challenge)
    weight, bias = conv_weights()
    hostile = saved(
        model(initializers=[external(weight, "../../../settings.py"), bias]),
        tmp_path / "generator.onnx",
    )

    response = upload(client, challenge, hostile, "onnx")

    assert response.status_code == 400
    assert response.json()["error_code"] == "unsafe_program"
    assert not Submission.objects.exists()
