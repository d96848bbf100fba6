"""Uploads are validated in a child process under the limits of the settings: the web process
never reads the participant's file, and the limits reach the participant as codes and sentences."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pytest_django.fixtures import Settings

from competitions.models import Challenge
from competitions.services import participation_join
from config.errors import ApplicationError
from models import checkpoints, exported, loading
from models import errors as model_errors
from models.loading import CheckpointInfo, CheckpointSpec
from submissions import services
from submissions.models import Submission
from submissions.services import submission_create
from tests.api.conftest import token_client
from tests.models import faulty_validation
from tests.models.checkpoint_files import example_inputs, export_program, random_network
from tests.models.test_hostile import edit_program, rewrite_archive

pytestmark = pytest.mark.django_db
CONCURRENT = 8


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A width-4 TransformerNet exported as a participant would (.pt2)."""
    path = tmp_path_factory.mktemp("programs") / "generator.pt2"
    network = random_network("transformer_net", {"width": 4})
    return export_program(network, example_inputs("transformer_net"), path)


@pytest.fixture
def joined(challenge: Challenge, participant: User) -> Challenge:
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    return challenge


@pytest.fixture
def sleeping_architecture() -> Iterator[str]:
    with faulty_validation.registered() as names:
        yield names["sleep"]


def create(participant: User, challenge: Challenge, path: Path, architecture: str) -> Submission:
    return submission_create(
        user=participant,
        challenge=challenge,
        checkpoint_path=path,
        checkpoint_name=path.name,
        architecture=architecture,
    )


def refused(
    participant: User, challenge: Challenge, path: Path, architecture: str
) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        create(participant, challenge, path, architecture)
    assert not Submission.objects.exists()
    return caught.value


def test_the_web_process_never_reads_the_upload(
    joined: Challenge, participant: User, program: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the web process read the participant's file")

    for module, name in [
        (loading, "validate_checkpoint"),
        (loading, "read_checkpoint"),
        (checkpoints, "read_checkpoint"),
        (exported, "open_archive"),
        (exported, "deserialize"),
    ]:
        monkeypatch.setattr(module, name, forbidden)

    submission = create(participant, joined, program, "transformer_net")

    assert (submission.checkpoint_format, submission.config) == ("exported", {"width": 4})
    assert submission.checkpoint.name.endswith("checkpoint.pt2")


def test_the_time_limit_comes_from_the_settings(
    joined: Challenge,
    participant: User,
    faulty_checkpoint: Path,
    sleeping_architecture: str,
    settings: Settings,
) -> None:
    settings.ATELIER_VALIDATION_TIME_LIMIT_S = 1.5

    error = refused(participant, joined, faulty_checkpoint, sleeping_architecture)

    assert error.code == "validation_time_limit"
    assert error.message == model_errors.VALIDATION_TIME_LIMIT.format(limit="1.5")


def test_the_memory_limit_comes_from_the_settings(
    joined: Challenge, participant: User, wide_legacy_pth: Path, settings: Settings
) -> None:
    settings.ATELIER_VALIDATION_MEMORY_LIMIT_MB = 16

    error = refused(participant, joined, wide_legacy_pth, "transformer_net")

    assert error.code == "validation_memory_limit"
    assert error.message == model_errors.VALIDATION_MEMORY_LIMIT.format(limit=16)
    settings.ATELIER_VALIDATION_MEMORY_LIMIT_MB = 2048
    assert create(participant, joined, wide_legacy_pth, "transformer_net").config == {"width": 64}


@pytest.mark.slow
def test_concurrent_uploads_of_a_program_all_validate(joined: Challenge, program: Path) -> None:
    phase = joined.phases.get()
    spec = CheckpointSpec(program, "transformer_net")

    def validate(_: int) -> CheckpointInfo:
        return services._validate(challenge=joined, phase=phase, spec=spec)

    with ThreadPoolExecutor(CONCURRENT) as pool:
        infos = list(pool.map(validate, range(CONCURRENT)))

    assert len({info.sha256 for info in infos}) == 1
    assert all(info.config == {"width": 4} for info in infos)


def test_a_program_uploaded_through_the_api_is_accepted(
    joined: Challenge, participant: User, program: Path
) -> None:
    response = token_client(participant).post(
        reverse("api_submission_create", args=[joined.slug]),
        {
            "checkpoint": SimpleUploadedFile("generator.pt2", program.read_bytes()),
            "architecture": "exported",
        },
        format="multipart",
    )

    assert response.status_code == 201, response.json()
    submission = Submission.objects.get(pk=response.json()["id"])
    assert (submission.checkpoint_format, submission.architecture) == ("exported", "exported")


def test_a_power_tower_uploaded_through_the_api_is_refused(
    joined: Challenge, participant: User, program: Path, tmp_path: Path
) -> None:
    hostile = _with_expression(program, tmp_path / "tower.pt2", "2**2**2**2**2**2**2")

    response = token_client(participant).post(
        reverse("api_submission_create", args=[joined.slug]),
        {
            "checkpoint": SimpleUploadedFile("tower.pt2", hostile.read_bytes()),
            "architecture": "exported",
        },
        format="multipart",
    )

    assert response.status_code == 400
    assert response.json()["error_code"] == "unsafe_program"


def _with_expression(source: Path, target: Path, expression: str) -> Path:
    def inject(document: dict) -> None:
        values = document["graph_module"]["graph"]["tensor_values"]
        size = next(
            size for value in values.values() for size in value["sizes"] if "as_expr" in size
        )
        size["as_expr"]["expr_str"] = expression

    return rewrite_archive(source, target, edit_program(inject))
