"""Generated training images: the demo's procedural landscapes and style textures, small."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from competitions.procedural import landscape, style_image

SEED = 7


def as_tensor(image: Image.Image, size: int) -> torch.Tensor:
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.crop((left, top, left + side, top + side)).resize((size, size), Image.LANCZOS)
    array = np.asarray(square.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def photos(count: int = 4, size: int = 48) -> list[torch.Tensor]:
    return [as_tensor(landscape(SEED, index), size) for index in range(count)]


def styles(size: int = 48, families: tuple[str, ...] = ("stripes",)) -> list[torch.Tensor]:
    return [as_tensor(style_image(SEED, family, 0), size) for family in families]
