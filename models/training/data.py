"""Training images: folders of photos and style images, and seeded random crops of them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from models.training.errors import CROP_TOO_LARGE, NO_IMAGES, UNREADABLE_IMAGE, TrainingError

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def images_from_folder(folder: Path, what: str) -> list[torch.Tensor]:
    """Every image in `folder` (sorted by name) as a 3×H×W float tensor in [0, 1]."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in SUFFIXES)
    if not paths:
        raise TrainingError("no_images", NO_IMAGES.format(what=what, where=folder))
    return [image_read(path) for path in paths]


def image_read(path: Path) -> torch.Tensor:
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as error:
        raise TrainingError(
            "unreadable_image", UNREADABLE_IMAGE.format(name=path.name, problem=error)
        ) from error
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


class CropSampler:
    """Random crop×crop crops, each flipped left-right with probability ½.

    Draws only from the generator it is given, so the same seed gives the same crops.
    """

    def __init__(self, images: Sequence[torch.Tensor], crop: int, what: str) -> None:
        smallest = min(min(image.shape[-2:]) for image in images)
        if smallest < crop:
            raise TrainingError(
                "crop_too_large", CROP_TOO_LARGE.format(crop=crop, what=what, size=smallest)
            )
        self.images = list(images)
        self.crop = crop

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """`count` crops and the index of the image each came from."""
        picks = torch.randint(len(self.images), (count,), generator=generator)
        crops = []
        for index in picks.tolist():
            image = self.images[index]
            height, width = image.shape[-2:]
            top = int(torch.randint(height - self.crop + 1, (1,), generator=generator))
            left = int(torch.randint(width - self.crop + 1, (1,), generator=generator))
            crop = image[:, top : top + self.crop, left : left + self.crop]
            if bool(torch.rand(1, generator=generator) < 0.5):
                crop = crop.flip(-1)
            crops.append(crop)
        return torch.stack(crops), picks
