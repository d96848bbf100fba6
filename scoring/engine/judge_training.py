"""Training a challenge's judge: style images are "real", public content photos "fake".

Random crops with left-right flips and colour jitter (brightness, contrast, saturation, each
×[0.8, 1.2]) from both sets, Adam (pix2pix's 2e-4, β = (0.5, 0.999)), hinge or BCE loss, a
fixed step budget. Every random draw, weights included, comes from one `torch.Generator`
seeded with `seed`, so the same images and settings give the same judge file, byte for byte.

Held-out accuracy is measured on what training never saw. In a set of two or more images, the
last ⌊n/5⌋ (at least one) images in the order given are held out; the caller orders them by
sha256, a fixed but arbitrary choice. A set of one image cannot spare an image, so its bottom
band of `crop` rows is held out and training crops come from the rest. Held-out images are cut
into non-overlapping crop×crop tiles; a tile is judged right when its mean patch probability
is on its side of 0.5. The accuracy reported is balanced: the mean of the style and the
content accuracies, so a judge that calls everything "style" scores 0.5 whatever the counts.

The defaults (4 convolutions of base width 16, 128-pixel crops, 300 steps of 8 + 8 crops)
take 15–25 s on 2 CPU cores, the budget of DESIGN.md's prototype judge (4 convolutions, 300
steps, 30 s), and separate the real-world stylisations from photos on held-out crops. Width
32 costs about three times as long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from models.zoo.patch_discriminator import PatchDiscriminator
from scoring.engine.determinism import deterministic
from scoring.engine.errors import (
    JUDGE_TRAINING_CROP,
    JUDGE_TRAINING_LOSS,
    ErrorCode,
    ScoringError,
)
from scoring.engine.images import ImageSet, stack_images
from scoring.engine.judge import Judge, judge_bytes
from scoring.engine.metrics import LUMA

logger = logging.getLogger(__name__)

LOSSES = ("hinge", "bce")
JITTER = 0.2
HELD_OUT_SHARE = 5
# pix2pix's Adam settings and its "normal" initialisation.
BETAS = (0.5, 0.999)
INIT_STD = 0.02

ProgressCallback = Callable[[int, int, float], None]


@dataclass(frozen=True)
class JudgeSettings:
    steps: int = 300
    seed: int = 0
    loss: str = "hinge"
    width: int = 16
    n_layers: int = 2
    crop: int = 128
    batch_size: int = 8
    learning_rate: float = 2e-4


@dataclass(frozen=True)
class JudgeTrainingResult:
    """The frozen judge, its loss per step, and how it does on held-out crops."""

    judge: Judge
    settings: JudgeSettings
    losses: tuple[float, ...]
    heldout_accuracy: float
    heldout_style_accuracy: float
    heldout_content_accuracy: float
    heldout_tiles: int
    seconds: float

    def summary(self) -> dict[str, Any]:
        """What an organizer sees about the training run, JSON-ready (the curve included)."""
        return {
            "sha256": self.judge.sha256,
            "config": self.judge.config,
            "settings": asdict(self.settings),
            "losses": list(self.losses),
            "heldout_accuracy": self.heldout_accuracy,
            "heldout_style_accuracy": self.heldout_style_accuracy,
            "heldout_content_accuracy": self.heldout_content_accuracy,
            "heldout_tiles": self.heldout_tiles,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class _Split:
    """Training regions (images, or the top part of a single image) and held-out tiles."""

    training: torch.Tensor
    heldout: torch.Tensor


def judge_train(
    style_images: ImageSet,
    content_images: ImageSet,
    settings: JudgeSettings | None = None,
    *,
    device: torch.device | str = "cpu",
    progress: ProgressCallback | None = None,
) -> JudgeTrainingResult:
    """Train, check and freeze a PatchGAN judge; `progress(step, steps, loss)` after each step."""
    settings = settings or JudgeSettings()
    if settings.loss not in LOSSES:
        message = JUDGE_TRAINING_LOSS.format(loss=settings.loss, known=", ".join(LOSSES))
        raise ScoringError(ErrorCode.JUDGE_TRAINING_DATA, message)
    style = stack_images(style_images, "style images")
    content = stack_images(content_images, "content images", style.shape[-1])
    started = time.perf_counter()
    with deterministic():
        style_split = _split(style, settings.crop)
        content_split = _split(content, settings.crop)
        generator = torch.Generator().manual_seed(settings.seed)
        module = _initialised(settings, generator).to(device)
        losses = _train(module, style_split, content_split, settings, generator, progress)
        module.eval().requires_grad_(False)
        judge = Judge.from_bytes(judge_bytes(module), device=device)
        style_accuracy = _accuracy(judge, style_split.heldout, style=True)
        content_accuracy = _accuracy(judge, content_split.heldout, style=False)
    result = JudgeTrainingResult(
        judge=judge,
        settings=settings,
        losses=tuple(losses),
        heldout_accuracy=(style_accuracy + content_accuracy) / 2,
        heldout_style_accuracy=style_accuracy,
        heldout_content_accuracy=content_accuracy,
        heldout_tiles=style_split.heldout.shape[0] + content_split.heldout.shape[0],
        seconds=time.perf_counter() - started,
    )
    logger.info(
        "judge %s trained in %.1f s: held-out accuracy %.3f (style %.3f, content %.3f)",
        judge.sha256[:12],
        result.seconds,
        result.heldout_accuracy,
        style_accuracy,
        content_accuracy,
    )
    return result


def _split(images: torch.Tensor, crop: int) -> _Split:
    count, _, resolution, _ = images.shape
    if count >= 2 and resolution >= crop:
        held = max(1, count // HELD_OUT_SHARE)
        return _Split(training=images[: count - held], heldout=_tiles(images[count - held :], crop))
    if count == 1 and resolution >= 2 * crop:
        band = images[:, :, resolution - crop :, :]
        return _Split(training=images[:, :, : resolution - crop, :], heldout=_tiles(band, crop))
    raise ScoringError(
        ErrorCode.JUDGE_TRAINING_DATA, JUDGE_TRAINING_CROP.format(crop=crop, resolution=resolution)
    )


def _tiles(images: torch.Tensor, crop: int) -> torch.Tensor:
    """Non-overlapping crop×crop tiles covering each image, row by row."""
    height, width = images.shape[-2:]
    return torch.cat(
        [
            images[:, :, top : top + crop, left : left + crop]
            for top in range(0, height - crop + 1, crop)
            for left in range(0, width - crop + 1, crop)
        ]
    )


def _initialised(settings: JudgeSettings, generator: torch.Generator) -> PatchDiscriminator:
    """A PatchGAN with pix2pix's N(0, 0.02) weights and zero biases, drawn from `generator`."""
    with torch.device("meta"):
        module = PatchDiscriminator(settings.width, settings.n_layers, norm="instance")
    module.to_empty(device="cpu")
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.normal_(layer.weight, 0.0, INIT_STD, generator=generator)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def _train(
    module: PatchDiscriminator,
    style: _Split,
    content: _Split,
    settings: JudgeSettings,
    generator: torch.Generator,
    progress: ProgressCallback | None,
) -> list[float]:
    optimiser = torch.optim.Adam(module.parameters(), lr=settings.learning_rate, betas=BETAS)
    device = next(module.parameters()).device
    module.train()
    losses: list[float] = []
    for step in range(settings.steps):
        real = _augmented(style.training, settings.batch_size, settings.crop, generator)
        fake = _augmented(content.training, settings.batch_size, settings.crop, generator)
        # One forward pass for both: instance norm keeps every crop independent of the others.
        logits = module(torch.cat([real, fake]).to(device) * 2 - 1)
        loss = _loss(settings.loss, logits[: real.shape[0]], logits[real.shape[0] :])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, settings.steps, losses[-1])
    return losses


def _loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind == "hinge":
        return functional.relu(1 - real).mean() + functional.relu(1 + fake).mean()
    return functional.binary_cross_entropy_with_logits(
        real, torch.ones_like(real)
    ) + functional.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))


def _augmented(
    regions: torch.Tensor, count: int, crop: int, generator: torch.Generator
) -> torch.Tensor:
    """`count` random crops of `regions`, each flipped with probability ½ and colour-jittered."""
    height, width = regions.shape[-2:]
    picks = torch.randint(regions.shape[0], (count,), generator=generator)
    tops = torch.randint(height - crop + 1, (count,), generator=generator)
    lefts = torch.randint(width - crop + 1, (count,), generator=generator)
    crops = torch.stack(
        [
            regions[int(index), :, int(top) : int(top) + crop, int(left) : int(left) + crop]
            for index, top, left in zip(picks, tops, lefts, strict=True)
        ]
    )
    flips = torch.rand(count, generator=generator) < 0.5
    crops = torch.where(flips.view(-1, 1, 1, 1), crops.flip(-1), crops)
    factors = 1 + JITTER * (2 * torch.rand(3, count, 1, 1, 1, generator=generator) - 1)
    brightness, contrast, saturation = factors
    crops = crops * brightness
    luma = torch.tensor(LUMA).view(1, 3, 1, 1)
    grey = (crops * luma).sum(dim=1, keepdim=True)
    crops = (crops - grey.mean(dim=(2, 3), keepdim=True)) * contrast + grey.mean(
        dim=(2, 3), keepdim=True
    )
    grey = (crops * luma).sum(dim=1, keepdim=True)
    crops = grey + (crops - grey) * saturation
    return crops.clamp(0, 1)


def _accuracy(judge: Judge, tiles: torch.Tensor, *, style: bool) -> float:
    """Share of held-out tiles on the right side of 0.5."""
    correct = 0
    for batch in torch.split(tiles, 32):
        probabilities, _ = judge.evaluate(batch)
        correct += int(((probabilities > 0.5) == style).sum())
    return correct / tiles.shape[0]
