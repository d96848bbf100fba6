"""A wide, single-layer, multi-scale random network: the default (weight-free) texture model.

Five scales of the input (full, ½, ¼, ⅛, 1/16 by 2×2 average pooling), each through its own
bank of `width` random K×K filters and a ReLU. Nothing is stacked: every feature is one random
filter of one scale, so the Gram statistics of a wide bank concentrate around a property of
the image (a kernel on its local colour and edge statistics) and barely depend on which random
filters were drawn. A deep random network (VGG19) composes its randomness layer after layer:
its deep Gram statistics are heavy-tailed across seeds and rank near-ties differently from one
seed to the next (scoring/engine/README.md: Metric network, with the measurements).

The five scales stand in for VGG19's five style taps at the same map sizes relative to the
input, and keep their names (`relu1_1` … `relu5_1`; `relu4_2` is the ⅛ scale too), so the
metrics read either network the same way. The two finest scales sample every second position
(stride 2): their Gram products are what the network costs, and a texture's statistics need
not be read at every pixel.

The scene layout the content distance compares has its own tap, `layout`: a second bank at
the ¼ scale whose filters sum to zero over their 5×5 window (per input channel), read with
reflected borders. It answers to edges and not to flat colour, so a stylisation that repaints
the photo's colours keeps its layout, and a flat image has none; the style banks keep colour,
which is part of a style.

The style banks read their borders replicated: a flat image is flat at every scale, so its
feature covariance is zero, as the style distance expects (scoring/engine/metrics.py), and the
border adds no texture of its own to small maps.

Input is an ImageNet-normalised batch, as for VGG19; normalisation is the caller's business.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional

NAME = "random-texture"
SCALES = 5
KERNEL = 5
# Per scale: the stride at which its filters are read (see the module docstring).
STRIDES = (2, 2, 1, 1, 1)
# The engine's tap names, finest scale first; relu4_2 reads the ⅛ scale like relu4_1.
TAP_SCALES = {"relu1_1": 0, "relu2_1": 1, "relu3_1": 2, "relu4_1": 3, "relu4_2": 3, "relu5_1": 4}
LAYOUT_TAP = "layout"
LAYOUT_SCALE = 2
TAPS = (*TAP_SCALES, LAYOUT_TAP)
DEFAULT_WIDTH = 512


class RandomTexture(nn.Module):
    def __init__(self, width: int = DEFAULT_WIDTH, kernel: int = KERNEL) -> None:
        super().__init__()
        self.width = width
        self.scales = nn.ModuleList(
            nn.Conv2d(
                3,
                width,
                kernel,
                stride=stride,
                padding=kernel // 2,
                bias=False,
                padding_mode="replicate",
            )
            for stride in STRIDES
        )
        self.layout = nn.Conv2d(
            3, width, kernel, padding=kernel // 2, bias=False, padding_mode="reflect"
        )

    def forward(self, x: torch.Tensor, taps: Sequence[str]) -> dict[str, torch.Tensor]:
        """The activations of the named taps, computing each scale and bank once."""
        unknown = sorted(set(taps) - set(TAPS))
        if unknown or not taps:
            raise ValueError(f"taps must be among {sorted(TAPS)}, not {list(taps)}")
        wanted = {TAP_SCALES.get(tap, LAYOUT_SCALE) for tap in taps}
        activations: dict[str, torch.Tensor] = {}
        image = x
        for scale, conv in enumerate(self.scales):
            if scale > max(wanted):
                break
            if scale:
                image = functional.avg_pool2d(image, 2)
            if scale == LAYOUT_SCALE and LAYOUT_TAP in taps:
                activations[LAYOUT_TAP] = torch.relu(self.layout(image))
            here = [tap for tap in taps if TAP_SCALES.get(tap) == scale]
            if here:
                features = torch.relu(conv(image))
                activations.update(dict.fromkeys(here, features))
        return {tap: activations[tap] for tap in taps}


def kernel_area(conv: nn.Conv2d) -> int:
    return conv.kernel_size[0] * conv.kernel_size[1]


def random_texture(seed: int, width: int = DEFAULT_WIDTH) -> RandomTexture:
    """Kaiming-normal filters (fan in, for a ReLU) drawn from a generator seeded by `seed`:
    bit-identical for the same seed and width, and nothing drawn from the global generator."""
    with torch.device("meta"):
        model = RandomTexture(width)
    model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(seed)
    for conv in (*model.scales, model.layout):
        fan_in = conv.in_channels * kernel_area(conv)
        with torch.no_grad():
            conv.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
    with torch.no_grad():
        # Zero sum over each window, same spread: an edge detector that ignores flat colour.
        weight = model.layout.weight
        weight -= weight.mean(dim=(2, 3), keepdim=True)
        weight *= math.sqrt(2.0 / (3 * kernel_area(model.layout))) / weight.std()
    return model.eval()
