"""Images and small challenges for the engine tests: procedural, seeded, tiny."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.nn import functional

from scoring.engine import (
    Judge,
    MetricNetwork,
    References,
    ReferenceSpec,
    TaskKind,
    references_build,
    tensor_sha256,
)

REALWORLD = Path(__file__).resolve().parents[3] / ".." / "shared" / "realworld"


def smooth_images(count: int, resolution: int = 32, seed: int = 0) -> torch.Tensor:
    """Seeded images with structure at several scales, float RGB in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.zeros(count, 3, resolution, resolution)
    for size in (4, 8, resolution // 2):
        noise = torch.rand(count, 3, size, size, generator=generator)
        image += functional.interpolate(noise, size=resolution, mode="bilinear")
    return (image / 3).clamp(0, 1)


def stripes(count: int, resolution: int = 32, period: int = 4) -> torch.Tensor:
    """Diagonal colour stripes, a texture far from `smooth_images`."""
    rows = torch.arange(resolution).view(-1, 1)
    columns = torch.arange(resolution).view(1, -1)
    phase = ((rows + columns) // period % 2).float()
    image = torch.stack([phase, 1 - phase, 0.5 * phase])
    return image.unsqueeze(0).repeat(count, 1, 1, 1)


def spec_for(
    content: torch.Tensor,
    style: torch.Tensor,
    public: torch.Tensor,
    *,
    prototypes: int = 1,
    pairing: tuple[int, ...] | None = None,
) -> ReferenceSpec:
    return ReferenceSpec(
        task_kind=TaskKind.SINGLE_STYLE if pairing is None else TaskKind.ARBITRARY_STYLE,
        content_sha256=tuple(tensor_sha256(image) for image in content),
        style_sha256=tuple(tensor_sha256(image) for image in style),
        public_style_sha256=tuple(tensor_sha256(image) for image in public),
        prototypes=prototypes,
        style_pairing=pairing,
    )


def build_references(
    content: torch.Tensor,
    style: torch.Tensor,
    network: MetricNetwork,
    judge: Judge | None,
    *,
    public: torch.Tensor | None = None,
    prototypes: int = 1,
    pairing: tuple[int, ...] | None = None,
) -> References:
    public = style if public is None else public
    return references_build(
        spec_for(content, style, public, prototypes=prototypes, pairing=pairing),
        content_images=content,
        style_images=style,
        public_style_images=public,
        network=network,
        judge=judge,
    )


def load_photo(path: Path, resolution: int) -> torch.Tensor:
    """A file resized and centre-cropped to resolution² as the platform stores it (3×R×R)."""
    with Image.open(path) as opened:
        image = ImageOps.fit(
            opened.convert("RGB"), (resolution, resolution), method=Image.Resampling.LANCZOS
        )
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)
