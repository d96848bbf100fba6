"""Image input checks and PNG bytes."""

from __future__ import annotations

import pytest
import torch

from scoring.engine import ErrorCode, ScoringError, png_decode, png_encode
from scoring.engine.errors import BAD_IMAGES
from scoring.engine.images import MIXED_SIZES, NO_IMAGES, WRONG_SIZE, stack_images
from tests.scoring.engine.helpers import smooth_images


def test_png_round_trip_of_8_bit_values() -> None:
    image = torch.randint(0, 256, (3, 16, 16), generator=torch.Generator().manual_seed(0)) / 255
    assert torch.equal(png_decode(png_encode(image)), image)


def test_sequence_of_images_is_stacked() -> None:
    images = smooth_images(3, 32)
    assert torch.equal(stack_images(list(images), "content images"), images)


@pytest.mark.parametrize(
    ("images", "problem"),
    [
        ([], NO_IMAGES),
        ([torch.zeros(3, 32, 32), torch.zeros(3, 16, 16)], MIXED_SIZES),
        (torch.zeros(1, 3, 16, 16), WRONG_SIZE.format(found="16×16", resolution=32)),
    ],
    ids=["empty", "mixed sizes", "wrong size"],
)
def test_unusable_images_are_refused(images: object, problem: str) -> None:
    with pytest.raises(ScoringError) as caught:
        stack_images(images, "style images", 32)  # type: ignore[arg-type]
    assert caught.value.code == ErrorCode.BAD_IMAGES
    assert caught.value.message == BAD_IMAGES.format(what="style images", problem=problem)
