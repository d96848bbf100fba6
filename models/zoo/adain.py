"""AdaIN style transfer of Huang & Belongie 2017, as in naoto0804/pytorch-AdaIN (net.py).

The checkpoint carries both halves under prefixes: `encoder.N...` in the layout of the
reference's `vgg` Sequential (vgg_normalised.pth: a 1×1 colour convolution, then VGG19 with
reflection padding), and `decoder.N...` in the layout of its `decoder` Sequential. The encoder
runs up to relu4_1, as the reference's test.py does after truncating the network to its first
31 layers; encoder tensors past that point (a full vgg_normalised.pth) are never used and are
ignored. Takes (content, style, alpha=1) in 0..1.

Inferred from the weights: `width`, the first VGG block's width (64 in the paper); the other
widths are 2, 4 and 8 times it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from models.zoo.shapes import Shapes, tensor_shape

NAME = "adain"
ENCODER_LAYERS = 31  # vgg_normalised up to and including relu4_1
_ENCODER_KEY = re.compile(r"^encoder\.(\d+)\.(weight|bias)$")


def _conv(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(in_channels, out_channels, (3, 3))]


def _encoder(width: int) -> nn.Sequential:
    def pool() -> nn.Module:
        return nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True)

    w1, w2, w3, w4 = width, 2 * width, 4 * width, 8 * width
    layers: list[nn.Module] = [nn.Conv2d(3, 3, (1, 1))]
    layers += [*_conv(3, w1), nn.ReLU(), *_conv(w1, w1), nn.ReLU(), pool()]
    layers += [*_conv(w1, w2), nn.ReLU(), *_conv(w2, w2), nn.ReLU(), pool()]
    layers += [*_conv(w2, w3), nn.ReLU()]
    layers += [*_conv(w3, w3), nn.ReLU(), *_conv(w3, w3), nn.ReLU(), *_conv(w3, w3), nn.ReLU()]
    layers += [pool(), *_conv(w3, w4), nn.ReLU()]
    return nn.Sequential(*layers)


def _decoder(width: int) -> nn.Sequential:
    def upsample() -> nn.Module:
        return nn.Upsample(scale_factor=2, mode="nearest")

    w1, w2, w3, w4 = width, 2 * width, 4 * width, 8 * width
    layers: list[nn.Module] = [*_conv(w4, w3), nn.ReLU(), upsample()]
    layers += [*_conv(w3, w3), nn.ReLU(), *_conv(w3, w3), nn.ReLU(), *_conv(w3, w3), nn.ReLU()]
    layers += [*_conv(w3, w2), nn.ReLU(), upsample()]
    layers += [*_conv(w2, w2), nn.ReLU(), *_conv(w2, w1), nn.ReLU(), upsample()]
    layers += [*_conv(w1, w1), nn.ReLU(), *_conv(w1, 3)]
    return nn.Sequential(*layers)


def mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation (unbiased variance plus eps), as the reference."""
    n, c = features.shape[:2]
    flat = features.reshape(n, c, -1)
    std = (flat.var(dim=2) + eps).sqrt().reshape(n, c, 1, 1)
    return flat.mean(dim=2).reshape(n, c, 1, 1), std


def adaptive_instance_normalization(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    style_mean, style_std = mean_std(style)
    content_mean, content_std = mean_std(content)
    return (content - content_mean) / content_std * style_std + style_mean


class AdaIN(nn.Module):
    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.encoder = _encoder(width)
        self.decoder = _decoder(width)

    def forward(
        self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0
    ) -> torch.Tensor:
        content_features = self.encoder(content)
        target = adaptive_instance_normalization(content_features, self.encoder(style))
        return self.decoder(alpha * target + (1 - alpha) * content_features)


def build(config: Mapping[str, Any]) -> AdaIN:
    return AdaIN(width=int(config["width"]))


def infer_config(shapes: Shapes) -> dict[str, Any]:
    return {"width": tensor_shape(shapes, "encoder.2.weight", rank=4, architecture=NAME)[0]}


def unused_encoder_keys(keys: Iterable[str]) -> frozenset[str]:
    return frozenset(
        key
        for key in keys
        if (match := _ENCODER_KEY.match(key)) and int(match[1]) >= ENCODER_LAYERS
    )
