"""The PatchGAN judge of scoring: pix2pix's NLayerDiscriminator with a configurable size.

One `model` Sequential with the reference's indices (junyanz/pytorch-CycleGAN-and-pix2pix,
models/networks.py), so an organizer can upload a judge trained with that code: a stride-2
4×4 convolution and LeakyReLU, `n_layers - 1` more stride-2 blocks and one stride-1 block with
normalisation, then a 4×4 convolution to one logit per patch.

Inferred from the weights: `width` (first layer), `n_layers` and `norm` (`instance`, without
weights and with biased convolutions, or `batch`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from models.zoo.layers import InstanceNorm2d
from models.zoo.shapes import Shapes, tensor_shape

NAME = "patch_discriminator"
NORMS = ("instance", "batch")
_MAX_MULTIPLE = 8


class PatchDiscriminator(nn.Module):
    def __init__(self, width: int = 64, n_layers: int = 3, norm: str = "instance") -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, not {n_layers}")
        bias = norm == "instance"
        layers: list[nn.Module] = [
            nn.Conv2d(3, width, kernel_size=4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        channels = width
        for layer in range(1, n_layers + 1):
            out_channels = width * min(2**layer, _MAX_MULTIPLE)
            stride = 2 if layer < n_layers else 1
            layers += [
                nn.Conv2d(channels, out_channels, 4, stride=stride, padding=1, bias=bias),
                nn.BatchNorm2d(out_channels)
                if norm == "batch"
                else InstanceNorm2d(out_channels, affine=False),
                nn.LeakyReLU(0.2, True),
            ]
            channels = out_channels
        layers.append(nn.Conv2d(channels, 1, kernel_size=4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One logit per patch: positive means "looks like the style domain"."""
        return self.model(x)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The last hidden activations (for Fréchet distances) and the logits, in one pass."""
        features = self.model[:-1](x)
        return features, self.model[-1](features)


def build(config: Mapping[str, Any]) -> PatchDiscriminator:
    return PatchDiscriminator(
        width=int(config["width"]), n_layers=int(config["n_layers"]), norm=str(config["norm"])
    )


def infer_config(shapes: Shapes) -> dict[str, Any]:
    width = tensor_shape(shapes, "model.0.weight", rank=4, architecture=NAME)[0]
    convolutions = sum(
        1 for key, shape in shapes.items() if key.endswith(".weight") and len(shape) == 4
    )
    norm = "batch" if "model.3.weight" in shapes else "instance"
    return {"width": width, "n_layers": max(convolutions - 2, 1), "norm": norm}
