"""The sandboxed runner: same outputs as in-process, streamed, and every failure named."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from models import errors
from models.errors import ErrorCode, ModelError
from models.loading import CheckpointSpec, load_generator
from models.runner import RunLimits, RunStats, run_generator
from tests.models import faulty
from tests.models.checkpoint_files import (
    GENERATOR_CASES,
    images,
    random_network,
    save_safetensors,
    save_torch,
)

LIMITS = RunLimits(time_limit_s=60, memory_limit_bytes=1 << 30)
REPOSITORY = Path(__file__).resolve().parents[2]


def batches(sizes: list[int], seed: int) -> list[torch.Tensor]:
    return [images(size, seed=seed + index) for index, size in enumerate(sizes)]


def in_process(spec: CheckpointSpec, content: list[torch.Tensor], style: list | None) -> list:
    generator = load_generator(spec)
    generator.prepare(torch.device("cpu"))
    with torch.inference_mode():
        return [
            generator(batch, None if style is None else style[index])
            for index, batch in enumerate(content)
        ]


def failed_run(
    spec: CheckpointSpec, code: ErrorCode, limits: RunLimits = LIMITS
) -> tuple[ModelError, RunStats]:
    """Run until the failure; check that it yielded nothing and left no child behind."""
    stats = RunStats()
    outputs = []
    with pytest.raises(ModelError) as caught:
        outputs.extend(run_generator(spec, batches([2, 2], seed=0), limits=limits, stats=stats))
    assert caught.value.code == code, caught.value.message
    assert outputs == []
    assert stats.images == 0
    assert multiprocessing.active_children() == []
    return caught.value, stats


@pytest.fixture
def transformer_spec(tmp_path: Path) -> CheckpointSpec:
    network = random_network("transformer_net", {"width": 4})
    path = save_safetensors(network.state_dict(), tmp_path / "transformer.safetensors")
    return CheckpointSpec(path, "transformer_net")


@pytest.mark.parametrize("case", GENERATOR_CASES)
def test_runner_matches_the_in_process_generator(case: str, tmp_path: Path) -> None:
    architecture, config = GENERATOR_CASES[case]
    network = random_network(architecture, config)
    spec = CheckpointSpec(save_torch(network.state_dict(), tmp_path / "g.pth"), architecture)
    content = batches([2, 1], seed=20)
    style = batches([2, 1], seed=30) if architecture == "adain" else None

    outputs = list(run_generator(spec, content, style, limits=LIMITS))

    expected = in_process(spec, content, style)
    assert len(outputs) == len(expected)
    for output, reference in zip(outputs, expected, strict=True):
        assert output.dtype == torch.float32
        assert torch.equal(output, reference)


@pytest.mark.parametrize("case", ["transformer_net", "adain"])
def test_runner_runs_exported_programs(case: str, program_file: Callable[[str], Path]) -> None:
    spec = CheckpointSpec(program_file(case), GENERATOR_CASES[case][0])
    content = batches([2, 3], seed=40)
    style = batches([2, 3], seed=50) if case == "adain" else None

    outputs = list(run_generator(spec, content, style, limits=LIMITS))

    for output, reference in zip(outputs, in_process(spec, content, style), strict=True):
        assert torch.equal(output, reference)


def test_outputs_stream_with_progress(transformer_spec: CheckpointSpec) -> None:
    calls: list[tuple[int, int]] = []
    stats = RunStats()
    content = batches([2, 2, 1], seed=60)

    outputs = []
    for output in run_generator(
        transformer_spec,
        content,
        limits=LIMITS,
        progress=lambda done, total: calls.append((done, total)),
        stats=stats,
    ):
        outputs.append(output)
        assert len(calls) == len(outputs)

    assert calls == [(2, 5), (4, 5), (5, 5)]
    assert [output.shape for output in outputs] == [batch.shape for batch in content]
    assert all(output.min() >= 0 and output.max() <= 1 for output in outputs)
    assert (stats.device, stats.images) == ("cpu", 5)
    assert stats.load_seconds > 0
    assert stats.forward_seconds > 0


def test_runs_are_bit_identical(transformer_spec: CheckpointSpec) -> None:
    content = batches([3], seed=70)
    first = list(run_generator(transformer_spec, content, limits=LIMITS))
    second = list(run_generator(transformer_spec, content, limits=LIMITS))
    assert torch.equal(first[0], second[0])


def test_stopping_early_ends_the_child(transformer_spec: CheckpointSpec) -> None:
    outputs = run_generator(transformer_spec, batches([1, 1, 1], seed=80), limits=LIMITS)
    next(outputs)
    outputs.close()
    assert multiprocessing.active_children() == []


def test_time_the_caller_spends_between_batches_is_not_charged(
    transformer_spec: CheckpointSpec,
) -> None:
    limits = RunLimits(time_limit_s=1.5, memory_limit_bytes=1 << 30)
    outputs = []
    started = time.monotonic()
    for output in run_generator(transformer_spec, batches([1, 1], seed=90), limits=limits):
        if not outputs:
            time.sleep(2)
        outputs.append(output)
    assert len(outputs) == 2
    assert time.monotonic() - started > limits.time_limit_s


def test_style_batches_go_with_generators_that_take_a_style(
    transformer_spec: CheckpointSpec, tmp_path: Path
) -> None:
    content = batches([1], seed=0)
    with pytest.raises(ValueError, match="style"):
        list(run_generator(transformer_spec, content, content, limits=LIMITS))
    network = random_network("adain", {"width": 4})
    adain = CheckpointSpec(save_torch(network.state_dict(), tmp_path / "adain.pt"), "adain")
    with pytest.raises(ValueError, match="style"):
        list(run_generator(adain, content, limits=LIMITS))
    with pytest.raises(ValueError, match="pair"):
        list(run_generator(adain, content, [], limits=LIMITS))
    assert multiprocessing.active_children() == []


def test_batches_must_be_float_images(transformer_spec: CheckpointSpec) -> None:
    with pytest.raises(ValueError, match="N×3×H×W"):
        list(run_generator(transformer_spec, [torch.rand(1, 1, 8, 8)], limits=LIMITS))
    with pytest.raises(ValueError, match="floats"):
        list(run_generator(transformer_spec, [torch.ones(1, 3, 8, 8, dtype=torch.uint8)]))


def test_unknown_architecture_fails_before_a_child_starts(tmp_path: Path) -> None:
    spec = CheckpointSpec(tmp_path / "g.safetensors", "vgg19")
    with pytest.raises(ModelError) as caught:
        next(run_generator(spec, batches([1], seed=0), limits=LIMITS))
    assert caught.value.code == ErrorCode.UNKNOWN_ARCHITECTURE


def test_a_generator_sleeping_past_the_limit_is_stopped(
    faulty_architectures: dict[str, str], faulty_checkpoint: Path
) -> None:
    spec = CheckpointSpec(faulty_checkpoint, faulty_architectures["sleeper"])
    limits = RunLimits(time_limit_s=2, memory_limit_bytes=1 << 30)

    started = time.monotonic()
    error, _ = failed_run(spec, ErrorCode.TIME_LIMIT, limits)

    assert time.monotonic() - started < 2 + 3
    assert error.message == errors.TIME_LIMIT.format(limit="2")


def test_a_generator_allocating_past_the_limit_is_stopped(
    faulty_architectures: dict[str, str], faulty_checkpoint: Path
) -> None:
    spec = CheckpointSpec(faulty_checkpoint, faulty_architectures["hog"])
    limits = RunLimits(time_limit_s=60, memory_limit_bytes=256 << 20)
    parent_limit = resource.getrlimit(resource.RLIMIT_AS)

    error, _ = failed_run(spec, ErrorCode.MEMORY_LIMIT, limits)

    assert error.message == errors.MEMORY_LIMIT.format(limit=256)
    assert resource.getrlimit(resource.RLIMIT_AS) == parent_limit


@pytest.mark.parametrize(
    ("fault", "found"), [("shrinker", [2, 3, 16, 16]), ("greyscale", [2, 1, 32, 32])]
)
def test_a_generator_returning_the_wrong_shape_is_stopped(
    fault: str, found: list[int], faulty_architectures: dict[str, str], faulty_checkpoint: Path
) -> None:
    spec = CheckpointSpec(faulty_checkpoint, faulty_architectures[fault])
    error, _ = failed_run(spec, ErrorCode.BAD_OUTPUT_SHAPE)
    assert error.message == errors.BAD_OUTPUT_SHAPE.format(found=found, expected=[2, 3, 32, 32])


def test_a_generator_returning_nans_is_stopped(
    faulty_architectures: dict[str, str], faulty_checkpoint: Path
) -> None:
    spec = CheckpointSpec(faulty_checkpoint, faulty_architectures["nans"])
    error, _ = failed_run(spec, ErrorCode.NON_FINITE_OUTPUT)
    assert error.message == errors.NON_FINITE_OUTPUT


def test_a_killed_child_is_reported_with_its_signal(
    faulty_architectures: dict[str, str], faulty_checkpoint: Path
) -> None:
    spec = CheckpointSpec(faulty_checkpoint, faulty_architectures["suicide"])
    error, _ = failed_run(spec, ErrorCode.CHILD_CRASHED)
    assert error.message == errors.CHILD_CRASHED.format(reason="killed by SIGKILL")


def test_the_child_refuses_a_hostile_pickle_before_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Touch:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "g.pth"
    with path.open("wb") as file:
        pickle.dump({"conv1.conv2d.weight": Touch()}, file, protocol=2)

    _, stats = failed_run(CheckpointSpec(path, "transformer_net"), ErrorCode.UNSUPPORTED_FORMAT)

    assert stats.device == ""  # the child never reported a loaded generator
    assert not marker.exists()


def test_non_finite_weights_fail_before_running(tmp_path: Path) -> None:
    state_dict = random_network("transformer_net", {"width": 4}).state_dict()
    state_dict["in3.bias"][2] = float("nan")
    spec = CheckpointSpec(
        save_safetensors(state_dict, tmp_path / "g.safetensors"), "transformer_net"
    )

    _, stats = failed_run(spec, ErrorCode.NON_FINITE_WEIGHTS)

    assert stats.device == ""


@pytest.mark.slow
def test_a_child_does_not_outlive_its_caller(faulty_checkpoint: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = f"""
from pathlib import Path
import torch
from models.architectures import register_architecture
from models.loading import CheckpointSpec
from models.runner import RunLimits, run_generator
from tests.models import faulty

register_architecture(faulty.FAULTY["sleeper"])
spec = CheckpointSpec(Path({str(faulty_checkpoint)!r}), "test_sleeper")
list(run_generator(spec, [torch.rand(1, 3, 8, 8)], limits=RunLimits(time_limit_s=600)))
"""
    environment = {**os.environ, faulty.PID_FILE_VARIABLE: str(pid_file)}
    caller = subprocess.Popen([sys.executable, "-c", script], env=environment, cwd=REPOSITORY)
    try:
        wait_for(pid_file.exists, seconds=60)
    finally:
        caller.kill()
        caller.wait()
    child = int(pid_file.read_text())

    wait_for(lambda: not running(child), seconds=5)


def wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def running(pid: int) -> bool:
    """Whether the process exists and has not exited (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_caller_keeps_working_after_failures(transformer_spec: CheckpointSpec) -> None:
    assert len(list(run_generator(transformer_spec, batches([1], seed=1), limits=LIMITS))) == 1
