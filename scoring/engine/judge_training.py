"""Training a challenge's judge: "this style" against everything that is not this style.

Real: random crops of the style images. Fake, in equal shares per step: public content photos,
the same photos degraded (blur, posterize, colour shifts, noise, pixelation, a cartoon filter),
negative images the caller supplies (other challenges' style images, an organizer's negative
set) and procedural textures (`negatives.py`). Measured on real published checkpoints, a judge
trained against photos alone learns "painting versus photo": it ranked other artworks'
stylisations above the style's own and called raw photos "in the style".

Augmentation: random crops with left-right flips and colour jitter (brightness, contrast,
saturation, each ×[0.8, 1.2]) for every set. Adam (pix2pix's 2e-4, β = (0.5, 0.999)), hinge or
BCE loss, a fixed step budget. Every random draw, weights included, comes from one
`torch.Generator` seeded with `seed`, so the same images and settings give the same judge file,
byte for byte.

Held out (never trained on), per set: of two or more images, the last ⌊n/5⌋ (at least one) in
the order given (callers order by sha256); of a single image, its bottom-right quarter (training
crops come from its top and left halves, so crops are at most half the image). The procedural
textures held out are drawn separately; the degraded photos held out are the held-out photos,
each degraded once. Each held-out region goes through the
judge whole, and its map of patch probabilities is averaged over `tile`×`tile` pixel tiles: a
tile is judged right when its probability is on its side of 0.5. The accuracy is balanced: the
mean of the style-tile accuracy and the not-style accuracy, itself the mean over the kinds of
not-style images (photos, degraded photos, negatives, textures), so a judge that calls
everything "style" scores 0.5 whatever the counts, and easy textures cannot hide photos.

The gate: a judge below `min_accuracy` balanced held-out accuracy, or checked on fewer than
`min_tiles` tiles, fails, with the reason; a failed judge never scores. The deception threshold
is calibrated on the held-out photos (raw and degraded): the tile probability above which at
most `false_positive_rate` of them fall, and never below 0.5 (an output the judge thinks more
likely not the style never counts as deceiving it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from models.determinism import deterministic
from models.zoo.patch_discriminator import PatchDiscriminator
from scoring.engine.errors import (
    JUDGE_GATE_ACCURACY,
    JUDGE_GATE_TILES,
    JUDGE_TRAINING_CROP,
    JUDGE_TRAINING_LOSS,
    JUDGE_TRAINING_SMALL_CROP,
    ErrorCode,
    ScoringError,
)
from scoring.engine.images import ImageSet, stack_images
from scoring.engine.judge import Judge, judge_bytes
from scoring.engine.metrics import LUMA
from scoring.engine.negatives import degraded, procedural_textures

logger = logging.getLogger(__name__)

LOSSES = ("hinge", "bce")
JITTER = 0.2
HELD_OUT_SHARE = 5
# pix2pix's Adam settings and its "normal" initialisation.
BETAS = (0.5, 0.999)
INIT_STD = 0.02
# The generator streams of a run: one for training, one for the held-out textures and
# degradations, so that changing the step count does not change what is held out.
HELD_OUT_SALT = 7919

ProgressCallback = Callable[[int, int, float], None]


@dataclass(frozen=True)
class JudgeSettings:
    steps: int = 600
    seed: int = 0
    loss: str = "hinge"
    width: int = 16
    n_layers: int = 3
    crop: int = 128
    batch_size: int = 8
    learning_rate: float = 2e-4
    # Held-out tiles: the pixels a held-out probability is averaged over.
    tile: int = 32
    # Procedural textures made for training (a quarter as many more are made to hold out).
    textures: int = 32
    min_accuracy: float = 0.9
    min_tiles: int = 64
    false_positive_rate: float = 0.05


@dataclass(frozen=True)
class HeldOut:
    """How the judge does on what it never trained on, set by set."""

    style_accuracy: float
    not_style_accuracy: float
    tiles: int
    style_tiles: int
    by_set: dict[str, float]
    threshold: float

    @property
    def accuracy(self) -> float:
        return (self.style_accuracy + self.not_style_accuracy) / 2

    def summary(self) -> dict[str, Any]:
        return {
            "heldout_accuracy": self.accuracy,
            "heldout_style_accuracy": self.style_accuracy,
            "heldout_not_style_accuracy": self.not_style_accuracy,
            "heldout_by_set": self.by_set,
            "heldout_tiles": self.tiles,
            "heldout_style_tiles": self.style_tiles,
            "deception_threshold": self.threshold,
        }


@dataclass(frozen=True)
class JudgeTrainingResult:
    """The frozen judge, its loss per step, its held-out check and whether it passed."""

    judge: Judge
    settings: JudgeSettings
    losses: tuple[float, ...]
    heldout: HeldOut
    seconds: float
    failure: str = ""
    sets: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failure

    @property
    def heldout_accuracy(self) -> float:
        return self.heldout.accuracy

    @property
    def heldout_tiles(self) -> int:
        return self.heldout.tiles

    @property
    def threshold(self) -> float:
        return self.heldout.threshold

    def summary(self) -> dict[str, Any]:
        """What an organizer sees about the training run, JSON-ready (the curve included)."""
        return {
            "sha256": self.judge.sha256,
            "config": self.judge.config,
            "settings": asdict(self.settings),
            "losses": list(self.losses),
            "passed": self.passed,
            "failure": self.failure,
            **self.heldout.summary(),
            "training_sets": self.sets,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class _Split:
    """Training regions and held-out regions of one set.

    Regions are tensors of N×3×H×W; a set of one image trains on two (its top and its left
    half) and holds out its bottom-right quarter.
    """

    training: tuple[torch.Tensor, ...]
    heldout: torch.Tensor

    @property
    def training_images(self) -> int:
        return int(self.training[0].shape[0]) if self.training else 0


def judge_train(
    style_images: ImageSet,
    content_images: ImageSet,
    settings: JudgeSettings | None = None,
    *,
    negative_images: ImageSet = (),
    device: torch.device | str = "cpu",
    progress: ProgressCallback | None = None,
) -> JudgeTrainingResult:
    """Train, check and freeze a PatchGAN judge; `progress(step, steps, loss)` after each step.

    `content_images` are the public content photos; `negative_images` other images that are
    not this style (other artworks, an organizer's negatives), possibly none.
    """
    settings = settings or JudgeSettings()
    if settings.loss not in LOSSES:
        message = JUDGE_TRAINING_LOSS.format(loss=settings.loss, known=", ".join(LOSSES))
        raise ScoringError(ErrorCode.JUDGE_TRAINING_DATA, message)
    smallest = smallest_input(settings.n_layers)
    if settings.crop < smallest:
        message = JUDGE_TRAINING_SMALL_CROP.format(
            crop=settings.crop, layers=settings.n_layers, smallest=smallest
        )
        raise ScoringError(ErrorCode.JUDGE_TRAINING_DATA, message)
    style = stack_images(style_images, "style images")
    resolution = style.shape[-1]
    content = stack_images(content_images, "content images", resolution)
    others = (
        stack_images(negative_images, "negative images", resolution)
        if len(negative_images)
        else None
    )
    started = time.perf_counter()
    with deterministic():
        generator = torch.Generator().manual_seed(settings.seed)
        held_generator = torch.Generator().manual_seed(settings.seed + HELD_OUT_SALT)
        splits = {
            "style": _split(style, settings.crop),
            "photos": _split(content, settings.crop),
        }
        if others is not None:
            splits["negatives"] = _split(others, settings.crop)
        splits["textures"] = _Split(
            training=(procedural_textures(settings.textures, resolution, generator),),
            heldout=procedural_textures(max(1, settings.textures // 4), resolution, held_generator),
        )
        held_degraded = degraded(splits["photos"].heldout, held_generator)
        module = _initialised(settings, generator).to(device)
        losses = _train(module, splits, settings, generator, progress)
        module.eval().requires_grad_(False)
        judge = Judge.from_bytes(judge_bytes(module), device=device)
        heldout = _check(judge, splits, held_degraded, settings)
    failure = gate_failure(heldout, settings)
    result = JudgeTrainingResult(
        judge=judge,
        settings=settings,
        losses=tuple(losses),
        heldout=heldout,
        seconds=time.perf_counter() - started,
        failure=failure,
        sets={name: split.training_images for name, split in splits.items()},
    )
    logger.info(
        "judge %s trained in %.1f s: held-out accuracy %.3f (style %.3f, not style %.3f) on "
        "%d tiles, threshold %.3f%s",
        judge.sha256[:12],
        result.seconds,
        heldout.accuracy,
        heldout.style_accuracy,
        heldout.not_style_accuracy,
        heldout.tiles,
        heldout.threshold,
        f"; failed: {failure}" if failure else "",
    )
    return result


def judge_check(
    judge: Judge,
    style_images: ImageSet,
    content_images: ImageSet,
    settings: JudgeSettings | None = None,
    *,
    negative_images: ImageSet = (),
) -> HeldOut:
    """Check a judge trained elsewhere (an organizer's upload) on all of the given images.

    The same tiles, accuracy and threshold as a trained judge's held-out check, over every
    image (the platform cannot know what such a judge saw); photos are degraded once each, and
    textures drawn from the settings' seed.
    """
    settings = settings or JudgeSettings()
    style = stack_images(style_images, "style images")
    resolution = style.shape[-1]
    content = stack_images(content_images, "content images", resolution)
    generator = torch.Generator().manual_seed(settings.seed + HELD_OUT_SALT)
    splits = {
        "style": _Split(training=(), heldout=style),
        "photos": _Split(training=(), heldout=content),
    }
    if len(negative_images):
        negatives = stack_images(negative_images, "negative images", resolution)
        splits["negatives"] = _Split(training=(), heldout=negatives)
    with deterministic():
        splits["textures"] = _Split(
            training=(),
            heldout=procedural_textures(max(1, settings.textures // 4), resolution, generator),
        )
        return _check(judge, splits, degraded(content, generator), settings)


def gate_failure(heldout: HeldOut, settings: JudgeSettings) -> str:
    """Why a judge with this held-out check may not score, or "" when it may."""
    if heldout.tiles < settings.min_tiles:
        return JUDGE_GATE_TILES.format(tiles=heldout.tiles, minimum=settings.min_tiles)
    if heldout.accuracy < settings.min_accuracy:
        return JUDGE_GATE_ACCURACY.format(
            accuracy=heldout.accuracy,
            minimum=settings.min_accuracy,
            style=heldout.style_accuracy,
            not_style=heldout.not_style_accuracy,
        )
    return ""


def _split(images: torch.Tensor, crop: int) -> _Split:
    count, _, resolution, _ = images.shape
    if count >= 2 and resolution >= crop:
        held = max(1, count // HELD_OUT_SHARE)
        return _Split(training=(images[: count - held],), heldout=images[count - held :])
    half = resolution // 2
    if count == 1 and half >= crop:
        # A square held out, the size of a training crop, so that the judge sees it as it saw
        # its training crops (instance norm statistics depend on the region's extent).
        return _Split(
            training=(images[:, :, :half, :], images[:, :, :, :half]),
            heldout=images[:, :, half:, half:],
        )
    raise ScoringError(
        ErrorCode.JUDGE_TRAINING_DATA, JUDGE_TRAINING_CROP.format(crop=crop, resolution=resolution)
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
    splits: dict[str, _Split],
    settings: JudgeSettings,
    generator: torch.Generator,
    progress: ProgressCallback | None,
) -> list[float]:
    optimiser = torch.optim.Adam(module.parameters(), lr=settings.learning_rate, betas=BETAS)
    device = next(module.parameters()).device
    # The fake half of each batch: photos, degraded photos, then the other sets, in turn.
    others = [name for name in splits if name not in ("style", "photos")]
    fake_sets = ["photos", "degraded", *others]
    module.train()
    losses: list[float] = []
    for step in range(settings.steps):
        real = _augmented(splits["style"].training, settings.batch_size, settings.crop, generator)
        fake = _fakes(splits, fake_sets, settings, generator)
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


def _fakes(
    splits: dict[str, _Split],
    fake_sets: list[str],
    settings: JudgeSettings,
    generator: torch.Generator,
) -> torch.Tensor:
    """`batch_size` crops of not-this-style images, the sets taking equal shares in turn."""
    picks = torch.randint(len(fake_sets), (settings.batch_size,), generator=generator)
    crops = []
    for index in range(len(fake_sets)):
        count = int((picks == index).sum())
        if not count:
            continue
        name = fake_sets[index]
        source = splits["photos" if name == "degraded" else name].training
        batch = _augmented(source, count, settings.crop, generator)
        crops.append(degraded(batch, generator) if name == "degraded" else batch)
    return torch.cat(crops)


def _loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind == "hinge":
        return functional.relu(1 - real).mean() + functional.relu(1 + fake).mean()
    return functional.binary_cross_entropy_with_logits(
        real, torch.ones_like(real)
    ) + functional.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))


def _augmented(
    regions: tuple[torch.Tensor, ...], count: int, crop: int, generator: torch.Generator
) -> torch.Tensor:
    """`count` random crops of `regions` (a region chosen at random, then an image of it),
    each flipped with probability ½ and colour-jittered."""
    crops = []
    for _ in range(count):
        region = regions[int(torch.randint(len(regions), (), generator=generator))]
        height, width = region.shape[-2:]
        index = int(torch.randint(region.shape[0], (), generator=generator))
        top = int(torch.randint(height - crop + 1, (), generator=generator))
        left = int(torch.randint(width - crop + 1, (), generator=generator))
        crops.append(region[index, :, top : top + crop, left : left + crop])
    crops = torch.stack(crops)
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


def smallest_input(n_layers: int) -> int:
    """The smallest square a PatchGAN of `n_layers` strided layers turns into logits."""
    return 2 ** (n_layers + 2)


def tile_probabilities(judge: Judge, regions: torch.Tensor, tile: int) -> torch.Tensor:
    """Each region through the judge whole; its patch probabilities averaged per tile×tile.

    A region smaller than the judge can take (a thin band of a small image) is padded by
    repeating its edge pixels, never with pixels from outside it.
    """
    smallest = smallest_input(judge.config["n_layers"])
    tiles = []
    for region in regions:
        height, width = region.shape[-2:]
        padded = functional.pad(
            region.unsqueeze(0),
            (0, max(0, smallest - width), 0, max(0, smallest - height)),
            mode="replicate",
        )
        with torch.inference_mode():
            logits = judge.module(padded.to(judge.device) * 2 - 1)
            probabilities = torch.sigmoid(logits.double())
        rows, columns = max(1, height // tile), max(1, width // tile)
        pooled = functional.adaptive_avg_pool2d(probabilities, (rows, columns))
        tiles.append(pooled.flatten().cpu())
    return torch.cat(tiles)


def _check(
    judge: Judge, splits: dict[str, _Split], held_degraded: torch.Tensor, settings: JudgeSettings
) -> HeldOut:
    """Balanced held-out accuracy, per-set accuracies and the calibrated deception threshold."""
    style = tile_probabilities(judge, splits["style"].heldout, settings.tile)
    not_style = {
        name: tile_probabilities(judge, split.heldout, settings.tile)
        for name, split in splits.items()
        if name != "style"
    }
    not_style["degraded"] = tile_probabilities(judge, held_degraded, settings.tile)
    by_set = {name: float((values <= 0.5).double().mean()) for name, values in not_style.items()}
    photos = torch.cat([not_style["photos"], not_style["degraded"]])
    return HeldOut(
        style_accuracy=float((style > 0.5).double().mean()),
        # Each kind of not-style image counts the same, however many tiles it has: easy
        # textures must not hide photos the judge takes for the style.
        not_style_accuracy=sum(by_set.values()) / len(by_set),
        tiles=int(style.shape[0] + sum(values.shape[0] for values in not_style.values())),
        style_tiles=int(style.shape[0]),
        by_set={"style": float((style > 0.5).double().mean()), **by_set},
        threshold=calibrated_threshold(photos, settings.false_positive_rate),
    )


def calibrated_threshold(photo_probabilities: torch.Tensor, false_positive_rate: float) -> float:
    """The probability above which at most `false_positive_rate` of held-out photo tiles fall,
    and never below 0.5: the `1 − rate` quantile (linear interpolation), floored at 0.5."""
    quantile = torch.quantile(photo_probabilities.double(), 1 - false_positive_rate)
    return max(0.5, float(quantile))
