"""The two published fast-neural-style checkpoints load and stylise a real photo correctly.

The expectation is computed here, by a minimal functional re-implementation of the
pytorch/examples TransformerNet forward pass (neural_style/transformer_net.py) applied to the
raw state dict, not by the zoo network under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional

from models.architectures import Inputs
from models.checkpoints import CheckpointFormat
from models.io_range import IORange
from models.loading import CheckpointSpec, validate_checkpoint
from models.runner import RunLimits, run_generator

pytestmark = pytest.mark.slow
SIZE = 256
LIMITS = RunLimits(time_limit_s=120)
CHECKPOINTS = {
    "mosaic": "54a89da7a612ec71e5328baf4fd3c0bbb48feff37a8325c774a428cf363e17f1",
    "candy": "be90a4f8f76fc29de9cc8d3a4f7ce18d5be1ba099a44c3bf49ab397ac4668d51",
}


def checkpoint(realworld: Path, style: str) -> CheckpointSpec:
    return CheckpointSpec(
        realworld / "checkpoints" / f"{style}_transformernet_w16.pth", "transformer_net"
    )


def stylise(spec: CheckpointSpec, content: torch.Tensor) -> torch.Tensor:
    (output,) = run_generator(spec, [content], limits=LIMITS)
    return output


def photo(path: Path) -> torch.Tensor:
    image = Image.open(path).convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.float32) / 255
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def reference_stylise(state_dict: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """pytorch/examples' forward: reflection-padded convs, affine instance norm, 0..255."""

    def conv(name: str, y: torch.Tensor, stride: int = 1) -> torch.Tensor:
        weight = state_dict[f"{name}.conv2d.weight"]
        padding = weight.shape[-1] // 2
        padded = functional.pad(y, [padding] * 4, mode="reflect")
        return functional.conv2d(padded, weight, state_dict[f"{name}.conv2d.bias"], stride)

    def norm(name: str, y: torch.Tensor) -> torch.Tensor:
        weight, bias = state_dict[f"{name}.weight"], state_dict[f"{name}.bias"]
        return functional.instance_norm(y, weight=weight, bias=bias, eps=1e-5)

    def upsample(y: torch.Tensor) -> torch.Tensor:
        return functional.interpolate(y, mode="nearest", scale_factor=2)

    y = torch.relu(norm("in1", conv("conv1", x)))
    y = torch.relu(norm("in2", conv("conv2", y, stride=2)))
    y = torch.relu(norm("in3", conv("conv3", y, stride=2)))
    for block in range(1, 6):
        residual = y
        y = torch.relu(norm(f"res{block}.in1", conv(f"res{block}.conv1", y)))
        y = norm(f"res{block}.in2", conv(f"res{block}.conv2", y)) + residual
    y = torch.relu(norm("in4", conv("deconv1", upsample(y))))
    y = torch.relu(norm("in5", conv("deconv2", upsample(y))))
    return conv("deconv3", y)


@pytest.mark.parametrize("style", CHECKPOINTS)
def test_published_checkpoint_stylises_a_photo(style: str, realworld: Path) -> None:
    spec = checkpoint(realworld, style)
    content = photo(realworld / "content" / "amber.jpg")

    info = validate_checkpoint(spec)
    output = stylise(spec, content)

    assert (info.format, info.config, info.sha256) == (
        CheckpointFormat.TORCH,
        {"width": 16},
        CHECKPOINTS[style],
    )
    assert (info.io_range, info.inputs) == (IORange.BYTE, Inputs.CONTENT)
    state_dict = torch.load(spec.path, map_location="cpu", weights_only=True)
    with torch.inference_mode():
        expected = (reference_stylise(state_dict, content * 255).clamp(0, 255) / 255).float()
    torch.testing.assert_close(output, expected, rtol=0, atol=5e-4)
    # A stylisation, not the photo back.
    assert (output - content).abs().mean() > 0.1


def test_the_two_styles_differ(realworld: Path) -> None:
    content = photo(realworld / "content" / "chicago.jpg")
    mosaic, candy = (stylise(checkpoint(realworld, style), content) for style in CHECKPOINTS)
    assert (mosaic - candy).abs().mean() > 0.1
