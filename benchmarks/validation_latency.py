"""What validating an upload in a child process adds to the request.

A width-16 TransformerNet with random weights (about 2 MB: the size of the published
fast-neural-style checkpoints) is saved as .safetensors, as a .pt state dict and as a .pt2
exported program, and each file is validated five times in this process
(`validate_checkpoint`) and five times in a child from the warm forkserver
(`validate_in_child`, what an upload does). The medians, and the child's extra time, are the
figures to watch (issue 18's target: at most 1.5 s added for a 2 MB checkpoint). The
forkserver's cold start, paid once per web process, is printed separately.

    .venv/bin/python benchmarks/validation_latency.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import safetensors.torch
import torch

from models.loading import CheckpointSpec, validate_checkpoint
from models.runner import start_forkserver, validate_in_child
from models.zoo.transformer_net import TransformerNet

WIDTH = 16
REPEATS = 5
TARGET_ADDED_S = 1.5


def checkpoint_files(folder: Path) -> dict[str, Path]:
    """The same network as .safetensors, .pt and .pt2."""
    torch.manual_seed(0)
    network = TransformerNet(width=WIDTH).eval()
    state_dict = network.state_dict()
    paths = {
        "safetensors": folder / "generator.safetensors",
        "pt": folder / "generator.pt",
        "pt2": folder / "generator.pt2",
    }
    safetensors.torch.save_file(state_dict, paths["safetensors"])
    torch.save(state_dict, paths["pt"])
    dynamic = torch.export.Dim.DYNAMIC
    program = torch.export.export(
        network, (torch.rand(2, 3, 64, 64),), dynamic_shapes=({0: dynamic, 2: dynamic, 3: dynamic},)
    )
    torch.export.save(program, paths["pt2"])
    return paths


def median_seconds(run: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_validation_latency() -> dict[str, tuple[int, float, float]]:
    """Per format: (file bytes, in-process median s, child median s); prints a table."""
    cold_start = _timed(start_forkserver)
    results: dict[str, tuple[int, float, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, path in checkpoint_files(Path(folder)).items():
            spec = CheckpointSpec(path, "transformer_net")
            validate_checkpoint(spec)  # lazy imports and caches of this process
            in_process = median_seconds(lambda spec=spec: validate_checkpoint(spec))
            in_child = median_seconds(lambda spec=spec: validate_in_child(spec))
            results[name] = (path.stat().st_size, in_process, in_child)
    print(
        f"TransformerNet width {WIDTH}, CPU, {torch.get_num_threads()} threads here, "
        f"1 in the child, median of {REPEATS}"
    )
    print(f"{'format':12}{'bytes':>12}{'in-process s':>14}{'child s':>10}{'added s':>10}")
    for name, (size, in_process, in_child) in results.items():
        added = in_child - in_process
        print(f"{name:12}{size:12,}{in_process:14.3f}{in_child:10.3f}{added:10.3f}")
    print(f"forkserver cold start (once per web process): {cold_start:.2f} s")
    worst = max(in_child - in_process for _, in_process, in_child in results.values())
    verdict = "meets" if worst <= TARGET_ADDED_S else "misses"
    print(f"most added: {worst:.3f} s, {verdict} the target of {TARGET_ADDED_S} s")
    return results


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


if __name__ == "__main__":
    measure_validation_latency()
