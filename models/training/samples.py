"""Sample grids: one row per test image, one column per stage (photo, style, output)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

GAP = 2


def sample_grid(columns: Sequence[torch.Tensor]) -> Image.Image:
    """Columns of N×3×H×W images in [0, 1] side by side, rows separated by a white gap."""
    count, _, height, width = columns[0].shape
    grid = torch.ones(3, count * (height + GAP) - GAP, len(columns) * (width + GAP) - GAP)
    for column, images in enumerate(columns):
        for row in range(count):
            top, left = row * (height + GAP), column * (width + GAP)
            grid[:, top : top + height, left : left + width] = images[row].clamp(0, 1)
    pixels = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(pixels)


def sample_grid_save(columns: Sequence[torch.Tensor], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sample_grid(columns).save(path)
    return path
