"""Overhead of the sandboxed runner over a plain in-process forward pass.

TransformerNet width 32 (random weights, the real network's size) stylises 32 images of
256×256 on the CPU, in batches of 4, three ways in the same run:

- plain: the zoo network loaded in this process, `inference_mode`, contiguous tensors, the way
  a script would call it;
- plain channels_last: the same with the layout the runner uses on CPU;
- runner: `models.runner.run_generator` from a warm forkserver, which starts a child, loads the
  checkpoint there, streams the batches and checks every output.

Each repeat runs plain, then the runner, then plain channels_last; the runner's time over the
plain time just before it is the figure to watch (median over repeats; target: at most 1.10).
The forkserver's cold start, paid once per worker process, is printed separately.

The same network exported to ONNX (`torch.onnx.export`, dynamic batch and sides) runs twice
more in each repeat: ONNX Runtime in this process (`models.onnx_graph.OnnxGenerator`, the
session options the sandbox uses) and `run_generator` on the .onnx file. Target: the sandboxed
ONNX run at most 1.10 × the in-process one; the table also gives ONNX Runtime ÷ PyTorch on the
same network and images.

    .venv/bin/python benchmarks/runner_overhead.py
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from models.loading import CheckpointSpec, load_generator
from models.runner import RunLimits, RunStats, run_generator, start_forkserver
from models.zoo.transformer_net import TransformerNet

logger = logging.getLogger("runner_overhead")

WIDTH = 32
SIZE = 256
IMAGES = 32
BATCH = 4
REPEATS = 3
TARGET_RATIO = 1.10


def content_images() -> list[torch.Tensor]:
    """Smooth procedural photos-to-be: gradients and waves, different per image."""
    generator = torch.Generator().manual_seed(0)
    axis = torch.linspace(0, 1, SIZE)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    frequencies = 1 + 6 * torch.rand(IMAGES, 3, 2, generator=generator)
    phases = 6.28 * torch.rand(IMAGES, 3, generator=generator)
    waves = torch.sin(
        frequencies[..., 0, None, None] * 6.28 * x
        + frequencies[..., 1, None, None] * 6.28 * y
        + phases[..., None, None]
    )
    return list((0.5 + 0.5 * waves).split(BATCH))


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(0)
    batches = content_images()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "transformer_net.pt"
        torch.save(TransformerNet(width=WIDTH).state_dict(), path)
        spec = CheckpointSpec(path, "transformer_net")
        network = load_generator(spec).module

        def plain(memory_format: torch.memory_format) -> None:
            network.to(memory_format=memory_format)
            with torch.inference_mode():
                for batch in batches:
                    (network(batch.contiguous(memory_format=memory_format) * 255) / 255).clamp(0, 1)

        stats = RunStats()

        def runner() -> None:
            stats.forward_seconds = 0.0
            for _ in run_generator(spec, batches, limits=RunLimits(time_limit_s=600), stats=stats):
                pass

        onnx_spec = CheckpointSpec(export_onnx(network, Path(folder) / "net.onnx"), "onnx")
        onnx_generator = load_generator(onnx_spec)
        onnx_generator.prepare(torch.device("cpu"))

        def onnx_in_process() -> None:
            with torch.inference_mode():
                for batch in batches:
                    onnx_generator(batch)

        def onnx_runner() -> None:
            for _ in run_generator(onnx_spec, batches, limits=RunLimits(time_limit_s=600)):
                pass

        cold_start = timed(start_forkserver)
        times: dict[str, list[float]] = {
            "plain": [],
            "runner": [],
            "plain channels_last": [],
            "onnx in-process": [],
            "onnx runner": [],
        }
        for repeat in range(REPEATS):
            logger.info("repeat %d of %d", repeat + 1, REPEATS)
            times["plain"].append(timed(lambda: plain(torch.contiguous_format)))
            times["runner"].append(timed(runner))
            times["plain channels_last"].append(timed(lambda: plain(torch.channels_last)))
            times["onnx in-process"].append(timed(onnx_in_process))
            times["onnx runner"].append(timed(onnx_runner))

    # Each runner time is divided by the plain time measured just before it, so that a load
    # change on a shared machine between repeats does not skew the ratio.
    ratios = [r / p for r, p in zip(times["runner"], times["plain"], strict=True)]
    print(
        f"TransformerNet width {WIDTH}, {IMAGES} images {SIZE}×{SIZE} in batches of {BATCH}, "
        f"CPU, {torch.get_num_threads()} threads, {REPEATS} repeats"
    )
    print(f"{'':22}{'median s':>10}{'min s':>10}")
    for name, values in times.items():
        print(f"{name:22}{statistics.median(values):10.2f}{min(values):10.2f}")
    print(f"runner: child load {stats.load_seconds:.3f} s, forward {stats.forward_seconds:.2f} s")
    print(f"forkserver cold start (once per worker process): {cold_start:.2f} s")
    print("runner ÷ plain per repeat: " + ", ".join(f"{ratio:.3f}" for ratio in ratios))
    ratio = statistics.median(ratios)
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(f"runner ÷ plain (median) = {ratio:.3f}, {verdict} the target of {TARGET_RATIO:.2f}")
    onnx_ratios = [
        r / p for r, p in zip(times["onnx runner"], times["onnx in-process"], strict=True)
    ]
    onnx_ratio = statistics.median(onnx_ratios)
    verdict = "meets" if onnx_ratio <= TARGET_RATIO else "misses"
    print(
        f"onnx runner ÷ onnx in-process (median) = {onnx_ratio:.3f}, {verdict} the target of "
        f"{TARGET_RATIO:.2f}"
    )
    best_torch = min(
        statistics.median(times["plain"]), statistics.median(times["plain channels_last"])
    )
    print(
        "ONNX Runtime ÷ PyTorch in-process (best layout), same network and images: "
        f"{statistics.median(times['onnx in-process']) / best_torch:.3f}"
    )


def export_onnx(network: torch.nn.Module, path: Path) -> Path:
    """The network as a participant exports it: dynamic batch, height and width, 0..255."""
    dynamic = torch.export.Dim.DYNAMIC
    torch.onnx.export(
        network.to(memory_format=torch.contiguous_format),
        (torch.rand(1, 3, SIZE, SIZE) * 255,),
        path,
        input_names=["content"],
        output_names=["stylised"],
        dynamic_shapes=({0: dynamic, 2: dynamic, 3: dynamic},),
        external_data=False,
    )
    return path


if __name__ == "__main__":
    main()
