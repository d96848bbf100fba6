"""Checking that scoring ranks the way a person would: challenges, controls and their scores.

The validity benchmark (benchmarks/scoring_validity.py) and its tests build single-style
challenges through the bundle import, train their judges and build their reference caches
through the scoring services, and score, with the pipeline's own `board_scorers`, the outputs
of real generators and of *controls*: outputs that make no real attempt at the style (the
photo unchanged, blurred, posterized, colour-shifted, cartoon-filtered, the style image pasted,
the style's average colour). A ranking is right when every real stylisation of the style beats
every control and every stylisation of another style.

Scores over a whole challenge combine its two leaderboard subsets: the per-image values of
both, with the baselines of both, through the composite of the engine.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from django.utils import timezone

from competitions.models import Challenge
from competitions.services import challenge_bundle_import
from scoring import engine
from scoring.engine.negatives import cartoon, colour_shift, gaussian_blur
from scoring.models import ScoringProfile
from scoring.services import board_images, board_scorers, images_load, scoring_profile_get

Control = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
PER_IMAGE = (
    "content_distance",
    "style_distance",
    "palette_distance",
    "judge_realism",
    "deception_rate",
    "memorization_rate",
)

BUNDLE = """\
slug = "{slug}"
title = "{title}"
task_kind = "single_style"
resolution = {resolution}
public_fraction = {public_fraction}
status = "published"

[[phases]]
name = "Validity"
starts_at = "{starts}"
ends_at = "{ends}"
"""


def _fixed(generator_seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(generator_seed)


def _posterized(photos: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    return torch.round(photos * 3) / 3


def _blurred(photos: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    return gaussian_blur(photos, 3.0 * photos.shape[-1] / 256)


def _colour_jittered(photos: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    return colour_shift(photos, _fixed(0))


def _cartoon(photos: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    return cartoon(photos, _fixed(0))


def _copy(photos: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    return style[:1].expand(photos.shape[0], -1, -1, -1).clone()


def _average_colour(photos: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    colour = style.mean(dim=(0, 2, 3)).view(1, 3, 1, 1)
    return colour.expand(photos.shape[0], -1, photos.shape[2], photos.shape[3]).clone()


# Outputs that make no real attempt: each takes the photos and the style images (N×3×R×R).
CONTROLS: dict[str, Control] = {
    "identity": lambda photos, style: photos.clone(),
    "blur": _blurred,
    "posterize": _posterized,
    "colour_jitter": _colour_jittered,
    "cartoon": _cartoon,
    "copy": _copy,
    "average_colour": _average_colour,
}


def corner_crops(photos: Sequence[Path], folder: Path) -> list[Path]:
    """The four corner squares (half the short side) of each photo, at its own resolution,
    saved in `folder`: other framings of the same scenes, never the photos themselves."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    crops = []
    for photo in photos:
        with Image.open(photo) as opened:
            image = opened.convert("RGB")
        width, height = image.size
        side = min(width, height) // 2
        for corner, (left, top) in enumerate(
            [(0, 0), (width - side, 0), (0, height - side), (width - side, height - side)]
        ):
            path = folder / f"{photo.stem}-corner{corner}.png"
            image.crop((left, top, left + side, top + side)).save(path)
            crops.append(path)
    return crops


@dataclass(frozen=True)
class ChallengeImages:
    """What a validity challenge is made of, as files: the bundle import normalises them."""

    style: Sequence[Path]
    hidden: Sequence[Path]
    public: Sequence[Path]


def validity_challenge_create(
    *,
    slug: str,
    images: ChallengeImages,
    resolution: int,
    public_fraction: float = 0.3,
    judge_steps: int | None = None,
    judge_seed: int = 0,
) -> Challenge:
    """A published single-style challenge imported from a bundle of these image files."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / slug
        for kind, split, files in (
            ("style", "public", images.style),
            ("content", "hidden", images.hidden),
            ("content", "public", images.public),
        ):
            folder = root / kind / split
            folder.mkdir(parents=True)
            for index, path in enumerate(files):
                (folder / f"{index:03d}-{path.name}").write_bytes(path.read_bytes())
        now = timezone.now().replace(microsecond=0)
        (root / "challenge.toml").write_text(
            BUNDLE.format(
                slug=slug,
                title=slug.replace("-", " ").title(),
                resolution=resolution,
                public_fraction=public_fraction,
                starts=(now - dt.timedelta(days=1)).isoformat(),
                ends=(now + dt.timedelta(days=30)).isoformat(),
            )
        )
        challenge = challenge_bundle_import(source=root)
    profile = scoring_profile_get(challenge=challenge)
    updates: dict[str, int] = {"judge_seed": judge_seed}
    if judge_steps is not None:
        updates["judge_steps"] = judge_steps
    ScoringProfile.objects.filter(pk=profile.pk).update(**updates)
    return challenge


@dataclass(frozen=True)
class WholeSet:
    """One entry's scores over both leaderboard subsets of a challenge."""

    metrics: dict[str, float | None]
    results: dict[str, engine.ScoreResult]


def challenge_score(
    *,
    challenge: Challenge,
    outputs: Callable[[torch.Tensor], torch.Tensor],
    network: engine.MetricNetwork,
    batch_size: int = 4,
) -> WholeSet:
    """Score `outputs(photos)` on both subsets with the pipeline's scorers, then combine them."""
    results = {}
    for run in board_scorers(challenge=challenge, network=network):
        photos = images_load(run.board.content)
        for start in range(0, photos.shape[0], batch_size):
            batch = photos[start : start + batch_size]
            with torch.inference_mode():
                generated = outputs(batch).clamp(0, 1)
            run.scorer.update(range(start, start + batch.shape[0]), generated)
        results[run.board.leaderboard] = run.scorer.finish(generator_seconds=None, params=None)
    return WholeSet(metrics=whole_set_metrics(results), results=results)


def whole_set_metrics(results: Mapping[str, engine.ScoreResult]) -> dict[str, float | None]:
    """Means of the per-image metrics over every test image, and the composite of them."""
    first = next(iter(results.values()))
    counts = {board: result.images for board, result in results.items()}
    total = sum(counts.values())
    metrics: dict[str, float | None] = {}
    for name in PER_IMAGE:
        if all(name in result.per_image for result in results.values()):
            values = [value for result in results.values() for value in result.per_image[name]]
            metrics[name] = math.fsum(values) / len(values)
        else:
            metrics[name] = None
    baselines = {
        name: math.fsum(result.baselines[name] * counts[board] for board, result in results.items())
        / total
        for name in first.baselines
    }
    metrics["composite"] = engine.composite_of(metrics, baselines=baselines, judged=first.judged)
    return metrics


def style_images_of(challenge: Challenge) -> torch.Tensor:
    """The challenge's style images (what the copy and average-colour controls use)."""
    return images_load(board_images(challenge=challenge, leaderboard="public").styles)
