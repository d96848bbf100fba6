"""The command line of the trainer: `python train.py` in the starter kit.

Settings come from, in increasing priority: the trainer's defaults, the `training` section of
the kit's challenge.json (resolution, architecture, the scorer's VGG seed), the flags.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import IO, Any

import torch

from models.training.data import images_from_folder
from models.training.errors import TrainingError
from models.training.settings import ARCHITECTURES, GAN_LOSSES, TrainingSettings
from models.training.trainer import StepLosses, loss_network, train

logger = logging.getLogger("atelier.train")

# flag → settings field, for the flags that map one to one.
FLAGS = {
    "arch": "architecture",
    "width": "width",
    "crop": "crop",
    "steps": "steps",
    "batch_size": "batch_size",
    "content_weight": "content_weight",
    "style_weight": "style_weight",
    "adversarial_weight": "adversarial_weight",
    "tv_weight": "tv_weight",
    "gan_loss": "gan_loss",
    "gradient_penalty": "gradient_penalty",
    "g_lr": "generator_lr",
    "d_lr": "discriminator_lr",
    "d_width": "discriminator_width",
    "d_layers": "discriminator_layers",
    "seed": "seed",
    "vgg_seed": "vgg_seed",
    "sample_every": "sample_every",
    "checkpoint_every": "checkpoint_every",
}


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="train.py",
        description="Train a style-transfer generator whose checkpoint the platform accepts.",
    )
    parse.add_argument("--challenge", type=Path, help="challenge.json of the starter kit")
    parse.add_argument("--content", type=Path, help="folder of content photos")
    parse.add_argument("--style", type=Path, help="folder of style images")
    parse.add_argument("--out", type=Path, default=Path("run"), help="output folder")
    parse.add_argument("--resume", action="store_true", help="continue the run in --out")
    parse.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parse.add_argument(
        "--vgg-weights",
        type=Path,
        help="torchvision's vgg19-dcbb9e9d.pth (or a safetensors copy) for better results",
    )
    parse.add_argument("--arch", choices=ARCHITECTURES)
    parse.add_argument("--gan-loss", choices=GAN_LOSSES)
    for flag in FLAGS:
        if flag in ("arch", "gan_loss"):
            continue
        kind = type(getattr(TrainingSettings, FLAGS[flag]))
        parse.add_argument("--" + flag.replace("_", "-"), type=kind)
    return parse


def settings_from(arguments: argparse.Namespace, challenge: dict[str, Any]) -> TrainingSettings:
    values: dict[str, Any] = {}
    known = {field.name for field in fields(TrainingSettings)}
    values.update({k: v for k, v in challenge.get("training", {}).items() if k in known})
    for flag, name in FLAGS.items():
        value = getattr(arguments, flag)
        if value is not None:
            values[name] = value
    return TrainingSettings(**values).check()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    arguments = parser().parse_args(argv)
    kit = Path(__file__).resolve().parents[2]
    challenge_path = arguments.challenge or (kit / "challenge.json")
    challenge: dict[str, Any] = {}
    if challenge_path.exists():
        challenge = json.loads(challenge_path.read_text())
    try:
        settings = settings_from(arguments, challenge)
        content = images_from_folder(arguments.content or kit / "data" / "content", "content")
        style = images_from_folder(arguments.style or kit / "data" / "style", "style")
        device = _device(arguments.device)
        network = loss_network(vgg_weights=arguments.vgg_weights, vgg_seed=settings.vgg_seed)
        logger.info(
            "training %s (width %d) on %d photo(s) and %d style image(s), %d steps on %s",
            settings.architecture,
            settings.width,
            len(content),
            len(style),
            settings.steps,
            device,
        )
        result = train(
            settings,
            content,
            style,
            output_dir=arguments.out,
            device=device,
            vgg=network,
            resume=arguments.resume,
            progress=ProgressBar(),
        )
    except TrainingError as error:
        print(f"error ({error.code}): {error.message}", file=sys.stderr)
        return 2
    except Exception as error:  # the scoring engine's weight errors carry a message too
        message = getattr(error, "message", None)
        if message is None:
            raise
        print(f"error ({getattr(error, 'code', 'error')}): {message}", file=sys.stderr)
        return 2
    logger.info(
        "checkpoint: %s (%s, io_range %s)", result.checkpoint, result.architecture, result.io_range
    )
    return 0


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError("no_cuda", "CUDA was asked for but this PyTorch sees no GPU.")
    return device


class ProgressBar:
    """One line redrawn in place on a terminal; a log line every tenth of the run otherwise."""

    WIDTH = 24

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.first: int | None = None
        self.interactive = self.stream.isatty()

    def __call__(self, losses: StepLosses, steps: int) -> None:
        if self.first is None:
            self.first = losses.step - 1
        done = losses.step - self.first
        rate = done / max(time.perf_counter() - self.started, 1e-9)
        remaining = (steps - losses.step) / rate if rate else 0.0
        filled = round(self.WIDTH * losses.step / steps)
        line = (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {losses.step}/{steps} "
            f"content {losses.content:.3f} style {losses.style:.3f} "
            f"gan {losses.adversarial:.3f} d {losses.discriminator:.3f} tv {losses.tv:.4f} "
            f"| {rate:.2f} step/s, {remaining:.0f} s left"
        )
        if self.interactive:
            end = "\n" if losses.step == steps else ""
            self.stream.write("\r" + line + end)
            self.stream.flush()
        elif losses.step == steps or losses.step % max(steps // 10, 1) == 0:
            self.stream.write(line + "\n")
            self.stream.flush()


if __name__ == "__main__":
    sys.exit(main())
