"""Validation in a child process: the same answers as in-process, time and memory limits with
their own codes, concurrent uploads, and a caller that never reads the participant's file."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from models import checkpoints, errors, exported, loading
from models.checkpoints import CheckpointLimits
from models.errors import ErrorCode, ModelError
from models.loading import CheckpointInfo, CheckpointSpec, validate_checkpoint
from models.runner import ValidationLimits, validate_in_child
from tests.models import faulty_validation
from tests.models.checkpoint_files import random_network, save_safetensors, save_torch
from tests.models.test_hostile import edit_program, rewrite_archive

LIMITS = ValidationLimits(time_limit_s=60, memory_limit_bytes=1 << 30)
CONCURRENT = 8


def refused(spec: CheckpointSpec, limits: ValidationLimits = LIMITS) -> ModelError:
    with pytest.raises(ModelError) as caught:
        validate_in_child(spec, limits)
    return caught.value


@pytest.fixture(scope="module")
def weights() -> dict[str, torch.Tensor]:
    return random_network("transformer_net", {"width": 4}).state_dict()


@pytest.fixture
def faulty_validators() -> Iterator[dict[str, str]]:
    with faulty_validation.registered() as names:
        yield names


@pytest.mark.parametrize("file_format", ["safetensors", "pth", "pt2"])
def test_the_child_finds_what_validation_in_process_finds(
    file_format: str,
    weights: dict[str, torch.Tensor],
    program_file: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    path = {
        "safetensors": lambda: save_safetensors(weights, tmp_path / "w.safetensors"),
        "pth": lambda: save_torch(weights, tmp_path / "w.pth"),
        "pt2": lambda: program_file("transformer_net"),
    }[file_format]()
    spec = CheckpointSpec(path, "transformer_net", config={"width": 4}, io_range="0-1")

    info = validate_in_child(spec, LIMITS)

    assert info == validate_checkpoint(spec)
    assert isinstance(info, CheckpointInfo)


def test_refusals_come_back_with_their_code_and_message(
    weights: dict[str, torch.Tensor], program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    broken = {key: tensor.clone() for key, tensor in weights.items()}
    broken["res1.conv1.conv2d.weight"][0, 0, 0, 0] = float("inf")
    text = tmp_path / "notes.pth"
    text.write_text("learning rate 1e-3\n")
    cases = {
        save_torch(broken, tmp_path / "inf.pth"): (
            ErrorCode.NON_FINITE_WEIGHTS,
            errors.NON_FINITE_WEIGHTS.format(key="res1.conv1.conv2d.weight"),
        ),
        text: (
            ErrorCode.UNSUPPORTED_FORMAT,
            errors.UNRECOGNISED_CONTENT.format(found=errors.FOUND_TEXT),
        ),
    }
    for path, expected in cases.items():
        error = refused(CheckpointSpec(path, "transformer_net"))
        assert (error.code, error.message) == expected
    program = CheckpointSpec(program_file("transformer_net"), "transformer_net", {"width": 8})
    mismatch = refused(program)
    assert (mismatch.code, mismatch.message) == (
        ErrorCode.CONFIG_MISMATCH,
        errors.CONFIG_MISMATCH.format(setting="width", declared=8, inferred=4),
    )


def test_the_checkpoint_limits_apply_in_the_child(
    weights: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    path = save_safetensors(weights, tmp_path / "w.safetensors")
    limits = ValidationLimits(checkpoint=CheckpointLimits(max_params=1000))
    error = refused(CheckpointSpec(path, "transformer_net"), limits)
    assert error.code == ErrorCode.TOO_MANY_PARAMETERS


def test_an_unknown_architecture_is_refused_without_a_child(tmp_path: Path) -> None:
    error = refused(CheckpointSpec(tmp_path / "never-read.pt", "gpt"))
    assert error.code == ErrorCode.UNKNOWN_ARCHITECTURE


def test_a_power_tower_is_refused_in_the_child_at_once(
    program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    def inject(program: dict) -> None:
        values = program["graph_module"]["graph"]["tensor_values"]
        size = next(
            size for value in values.values() for size in value["sizes"] if "as_expr" in size
        )
        size["as_expr"]["expr_str"] = "2**2**2**2**2**2**2"

    path = rewrite_archive(
        program_file("transformer_net"), tmp_path / "tower.pt2", edit_program(inject)
    )
    started = time.perf_counter()
    error = refused(CheckpointSpec(path, "transformer_net"))
    assert error.code == ErrorCode.UNSAFE_PROGRAM
    assert time.perf_counter() - started < 5


def test_validation_past_its_time_limit_is_stopped(program_file: Callable[[str], Path]) -> None:
    limits = ValidationLimits(time_limit_s=0.3, memory_limit_bytes=1 << 30)

    started = time.perf_counter()
    error = refused(CheckpointSpec(program_file("transformer_net"), "transformer_net"), limits)

    assert time.perf_counter() - started < 3
    assert error.code == ErrorCode.VALIDATION_TIME_LIMIT
    assert error.message == errors.VALIDATION_TIME_LIMIT.format(limit="0.3")


def test_a_hung_validation_is_stopped_at_the_time_limit(
    faulty_validators: dict[str, str], faulty_checkpoint: Path
) -> None:
    limits = ValidationLimits(time_limit_s=1.5, memory_limit_bytes=1 << 30)
    started = time.perf_counter()
    error = refused(CheckpointSpec(faulty_checkpoint, faulty_validators["sleep"]), limits)
    assert time.perf_counter() - started < 5
    assert error.code == ErrorCode.VALIDATION_TIME_LIMIT


def test_validation_past_its_memory_limit_is_refused(wide_legacy_pth: Path) -> None:
    limits = ValidationLimits(time_limit_s=60, memory_limit_bytes=16 << 20)

    error = refused(CheckpointSpec(wide_legacy_pth, "transformer_net"), limits)

    assert error.code == ErrorCode.VALIDATION_MEMORY_LIMIT
    assert error.message == errors.VALIDATION_MEMORY_LIMIT.format(limit=16)
    # The same file validates under the default limit.
    assert validate_in_child(CheckpointSpec(wide_legacy_pth, "transformer_net")).config == {
        "width": 64
    }


def test_a_child_killed_like_the_oom_killer_does_is_over_its_memory_limit(
    faulty_validators: dict[str, str], faulty_checkpoint: Path
) -> None:
    error = refused(CheckpointSpec(faulty_checkpoint, faulty_validators["killed"]))
    assert error.code == ErrorCode.VALIDATION_MEMORY_LIMIT
    assert error.message == errors.VALIDATION_MEMORY_LIMIT.format(limit=1024)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("segfault", "killed by SIGSEGV"), ("divide_by_zero", "ZeroDivisionError")],
)
def test_a_crashing_validation_is_reported(
    fault: str, reason: str, faulty_validators: dict[str, str], faulty_checkpoint: Path
) -> None:
    error = refused(CheckpointSpec(faulty_checkpoint, faulty_validators[fault]))
    assert error.code == ErrorCode.VALIDATION_CRASHED
    assert error.message == errors.VALIDATION_CRASHED.format(reason=reason)


@pytest.mark.slow
def test_concurrent_uploads_of_a_program_all_validate(program_file: Callable[[str], Path]) -> None:
    spec = CheckpointSpec(program_file("transformer_net"), "transformer_net")
    with ThreadPoolExecutor(CONCURRENT) as pool:
        infos = list(pool.map(lambda _: validate_in_child(spec, LIMITS), range(CONCURRENT)))
    assert infos == [validate_checkpoint(spec)] * CONCURRENT


def test_concurrent_validations_in_one_process_take_turns_in_the_deserialiser(
    program_file: Callable[[str], Path],
) -> None:
    spec = CheckpointSpec(program_file("transformer_net"), "transformer_net")
    start = threading.Barrier(4)

    def validate(_: int) -> CheckpointInfo:
        start.wait()
        return validate_checkpoint(spec)

    with ThreadPoolExecutor(4) as pool:
        infos = list(pool.map(validate, range(4)))
    assert infos == [validate_checkpoint(spec)] * 4


def test_the_caller_never_reads_the_file(
    program_file: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the caller read the participant's file")

    for module, name in [
        (loading, "read_checkpoint"),
        (checkpoints, "read_checkpoint"),
        (checkpoints, "checkpoint_format"),
        (exported, "open_archive"),
        (exported, "deserialize"),
    ]:
        monkeypatch.setattr(module, name, forbidden)

    info = validate_in_child(CheckpointSpec(program_file("transformer_net"), "transformer_net"))

    assert info.format == checkpoints.CheckpointFormat.EXPORTED


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux's resident-set accounting"
)
def test_the_callers_memory_does_not_grow_with_the_file(wide_legacy_pth: Path) -> None:
    spec = CheckpointSpec(wide_legacy_pth, "transformer_net")
    validate_in_child(spec)  # the forkserver is up, pipes and threads are warm
    size_kb = wide_legacy_pth.stat().st_size // 1024

    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kb("VmRSS")
    validate_in_child(spec)
    grown = _status_kb("VmHWM") - before

    assert grown < size_kb // 10, f"resident set grew by {grown} kB for a {size_kb} kB file"


def test_a_refusal_quoting_a_huge_tensor_name_still_comes_back(
    weights: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    name = "x" * 200_000
    path = save_safetensors({**weights, name: torch.ones(1)}, tmp_path / "long.safetensors")

    error = refused(CheckpointSpec(path, "transformer_net"))

    assert error.code == ErrorCode.UNEXPECTED_KEYS
    assert error.message.startswith("The checkpoint has 1 tensor(s) that the transformer_net")
    assert len(error.message) <= 1_000
