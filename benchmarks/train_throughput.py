"""Training speed of the starter-kit trainer: steps per second at 128 and 256 pixels.

Each configuration trains a TransformerNet against the scorer's VGG19 (seeded random weights,
width 64, the real network's size) and a PatchGAN, the full objective with the default BCE
loss, on procedural images; the first steps (allocation, oneDNN's kernel choice) are a warm-up
and not timed. Rows: the baseline's settings (width 8, batch 2; the starter kit's defaults,
which `seed_demo` trains for 300 steps on 64-pixel crops) at 64, 128 and 256 pixels, then
width 16 with batch 4 at 128 and 256 pixels. On a machine with CUDA the rows run on the GPU
too.

    .venv/bin/python benchmarks/train_throughput.py [--steps 10] [--threads N]
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace

import numpy as np
import torch
from PIL import Image

from competitions.procedural import landscape, style_image
from models.training import TrainingSettings, loss_network, train

# (label, width, crop, batch size)
CONFIGURATIONS = [
    ("baseline", 8, 64, 2),
    ("baseline", 8, 128, 2),
    ("baseline", 8, 256, 2),
    ("wider", 16, 128, 4),
    ("wider", 16, 256, 4),
]
WARMUP = 2


def images(size: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    def tensor(image: Image.Image) -> torch.Tensor:
        square = image.resize((size, size), Image.LANCZOS)
        array = np.asarray(square.convert("RGB"), dtype=np.float32) / 255.0
        return torch.from_numpy(array).permute(2, 0, 1).contiguous()

    content = [tensor(landscape(1, index)) for index in range(4)]
    styles = [tensor(style_image(1, family, 0)) for family in ("mosaic", "brush")]
    return content, styles


def steps_per_second(settings: TrainingSettings, device: str, steps: int) -> float:
    content, styles = images(max(settings.crop, 64))
    vgg = loss_network(vgg_weights=None, vgg_seed=0)
    stamps: list[float] = []

    def progress(losses, total) -> None:  # type: ignore[no-untyped-def]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    train(
        replace(settings, steps=steps + WARMUP),
        content,
        styles,
        device=device,
        vgg=vgg,
        progress=progress,
    )
    timed = stamps[WARMUP - 1 :]
    return (len(timed) - 1) / (timed[-1] - timed[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s)")
    print(
        f"{'device':<7} {'configuration':<14} {'width':>5} {'px':>4} {'batch':>5} "
        f"{'steps/s':>8} {'s/step':>7} {'300 steps':>10}"
    )
    for device in devices:
        for label, width, crop, batch in CONFIGURATIONS:
            settings = TrainingSettings(
                width=width, crop=crop, batch_size=batch, sample_every=10**6, checkpoint_every=10**6
            )
            rate = steps_per_second(settings, device, arguments.steps)
            print(
                f"{device:<7} {label:<14} {width:>5} {crop:>4} {batch:>5} {rate:>8.2f} "
                f"{1 / rate:>7.2f} {300 / rate:>9.0f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
