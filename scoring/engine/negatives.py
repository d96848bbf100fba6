"""What a judge learns is *not* the style: degraded photos and procedural textures.

A judge trained on style images against photos alone learns "painting versus photo", not the
style (measured on real published checkpoints: it then ranks other artworks' stylisations above
the style's own, and calls raw photos "in the style"). Besides photos and other artworks, it
therefore sees:
- degraded photos: the cheap tricks that make no real attempt at the style (blur, posterize,
  colour shifts, noise, pixelation, a cartoon filter), so none of them can buy realism;
- procedural textures: smooth noise, stripes, mosaics of cells and checkers in random
  palettes, so "has strong texture or colour" is not enough either.

Everything is drawn from a `torch.Generator` the caller seeds, so a training run is repeatable
byte for byte; nothing is downloaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.nn import functional

from scoring.engine.metrics import LUMA

Degradation = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _luma(images: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable Gaussian blur of a B×C×H×W batch (reflect padding)."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = functional.pad(images, (radius, radius, radius, radius), mode="reflect")
    horizontal = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    vertical = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    blurred = functional.conv2d(padded, horizontal, groups=channels)
    return functional.conv2d(blurred, vertical, groups=channels)


def blur(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return gaussian_blur(images, _uniform(generator, 1.5, 4.0))


def posterize(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    levels = int(torch.randint(2, 5, (), generator=generator))
    return torch.round(images * (levels - 1)) / (levels - 1)


def colour_shift(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Hue rotated by a random angle (in YIQ), saturation scaled by 0.6–1.8."""
    angle = _uniform(generator, 0.5, 2 * math.pi - 0.5)
    saturation = _uniform(generator, 0.6, 1.8)
    to_yiq = torch.tensor(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
        dtype=images.dtype,
        device=images.device,
    )
    cosine, sine = math.cos(angle) * saturation, math.sin(angle) * saturation
    rotate = torch.tensor(
        [[1.0, 0.0, 0.0], [0.0, cosine, -sine], [0.0, sine, cosine]],
        dtype=images.dtype,
        device=images.device,
    )
    matrix = torch.linalg.inv(to_yiq) @ rotate @ to_yiq
    return torch.einsum("ij,bjhw->bihw", matrix, images).clamp(0, 1)


def noise(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    sigma = _uniform(generator, 0.03, 0.12)
    return (images + sigma * torch.randn(images.shape, generator=generator)).clamp(0, 1)


def pixelate(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    factor = int(torch.randint(4, 12, (), generator=generator))
    size = images.shape[-2:]
    small = functional.interpolate(images, scale_factor=1 / factor, mode="area")
    return functional.interpolate(small, size=size, mode="nearest")


def cartoon(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Smoothed, posterized colours with dark edges: an edge-preserving "cartoon" filter."""
    smooth = posterize(gaussian_blur(images, _uniform(generator, 1.0, 2.5)), generator)
    luma = _luma(gaussian_blur(images, 1.0))
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    sobel = sobel.to(images.dtype).to(images.device)
    padded = functional.pad(luma, (1, 1, 1, 1), mode="replicate")
    gx = functional.conv2d(padded, sobel.view(1, 1, 3, 3))
    gy = functional.conv2d(padded, sobel.T.contiguous().view(1, 1, 3, 3))
    edges = (torch.sqrt(gx**2 + gy**2) > _uniform(generator, 0.15, 0.35)).to(images.dtype)
    return smooth * (1 - 0.85 * edges)


DEGRADATIONS: tuple[Degradation, ...] = (blur, posterize, colour_shift, noise, pixelate, cartoon)


def degraded(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image of a batch with one degradation, chosen at random, applied."""
    choices = torch.randint(len(DEGRADATIONS), (images.shape[0],), generator=generator)
    return torch.cat(
        [
            DEGRADATIONS[int(choice)](image.unsqueeze(0), generator)
            for image, choice in zip(images, choices, strict=True)
        ]
    ).clamp(0, 1)


# --- Procedural textures ------------------------------------------------------------------------


def _palette(generator: torch.Generator, colours: int) -> torch.Tensor:
    return torch.rand(colours, 3, generator=generator)


def _smooth_noise(size: int, generator: torch.Generator) -> torch.Tensor:
    field = torch.zeros(1, 1, size, size)
    for cells in (4, 8, 16, 32):
        octave = torch.rand(1, 1, cells, cells, generator=generator)
        field += functional.interpolate(octave, size=size, mode="bicubic", align_corners=False)
    field = field - field.min()
    return field / field.max().clamp_min(1e-6)


def _coloured(field: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A 1×1×S×S field in [0, 1] mapped through a random palette of 2–5 colours."""
    palette = _palette(generator, int(torch.randint(2, 6, (), generator=generator)))
    position = field.squeeze(0).squeeze(0) * (palette.shape[0] - 1)
    lower = position.floor().long().clamp(max=palette.shape[0] - 2)
    weight = (position - lower).unsqueeze(-1)
    colours = palette[lower] * (1 - weight) + palette[lower + 1] * weight
    return colours.permute(2, 0, 1).unsqueeze(0)


def _noise_texture(size: int, generator: torch.Generator) -> torch.Tensor:
    return _coloured(_smooth_noise(size, generator), generator)


def _stripes(size: int, generator: torch.Generator) -> torch.Tensor:
    angle = _uniform(generator, 0, math.pi)
    period = _uniform(generator, 4, size / 4)
    rows, columns = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    phase = (rows * math.sin(angle) + columns * math.cos(angle)) / period
    wobble = _smooth_noise(size, generator).squeeze() * _uniform(generator, 0, 2)
    field = 0.5 + 0.5 * torch.sin(2 * math.pi * (phase + wobble))
    return _coloured(field.view(1, 1, size, size), generator)


def _cells(size: int, generator: torch.Generator) -> torch.Tensor:
    """A mosaic of Voronoi cells with random colours and dark grout."""
    count = int(torch.randint(12, 120, (), generator=generator))
    centres = torch.rand(count, 2, generator=generator) * size
    rows, columns = torch.meshgrid(
        torch.arange(size, dtype=torch.float32),
        torch.arange(size, dtype=torch.float32),
        indexing="ij",
    )
    points = torch.stack([rows, columns], dim=-1).view(-1, 1, 2)
    distances = (points - centres.view(1, -1, 2)).norm(dim=-1)
    nearest = distances.topk(2, dim=1, largest=False)
    colours = _palette(generator, count)[nearest.indices[:, 0]]
    grout = (nearest.values[:, 1] - nearest.values[:, 0] < _uniform(generator, 0.5, 3.0)).float()
    image = colours * (1 - grout.unsqueeze(-1) * _uniform(generator, 0.5, 1.0))
    return image.view(size, size, 3).permute(2, 0, 1).unsqueeze(0)


def _checks(size: int, generator: torch.Generator) -> torch.Tensor:
    period = int(torch.randint(4, max(5, size // 4), (), generator=generator))
    rows, columns = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    field = ((rows // period + columns // period) % 2).float().view(1, 1, size, size)
    return gaussian_blur(_coloured(field, generator), _uniform(generator, 0.5, 2.0))


TEXTURES = (_noise_texture, _stripes, _cells, _checks)


def procedural_textures(count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """`count` textures of size×size, the four kinds in turn: count×3×size×size in [0, 1]."""
    return torch.cat(
        [TEXTURES[index % len(TEXTURES)](size, generator) for index in range(count)]
    ).clamp(0, 1)
