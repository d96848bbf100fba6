"""TransformerNet of Johnson et al. 2016, as in pytorch/examples fast_neural_style.

Same layers, same forward and same state_dict keys (`conv1.conv2d.weight`, `in1.weight`,
`res1.conv1.conv2d.weight`, ..., `deconv3.conv2d.bias`) as the reference, with the base width
as a parameter: 32 in the original, 16 and 8 in published lighter variants. Works in 0..255.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from models.zoo.layers import InstanceNorm2d
from models.zoo.shapes import Shapes, tensor_shape

NAME = "transformer_net"
RESIDUAL_BLOCKS = 5
# pytorch/examples deletes these from old checkpoints before loading (neural_style.py, stylize).
_LEGACY_KEY = re.compile(r"in\d+\.running_(mean|var)$")


class ConvLayer(nn.Module):
    """Reflection padding of half the kernel, then a convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.reflection_pad(x))


class UpsampleConvLayer(nn.Module):
    """Nearest-neighbour upsampling by two, then a ConvLayer (no transposed convolution)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        upsampled = functional.interpolate(x, mode="nearest", scale_factor=2)
        return self.conv2d(self.reflection_pad(upsampled))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.in1(self.conv1(x)))
        return self.in2(self.conv2(out)) + x


class TransformerNet(nn.Module):
    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.conv1 = ConvLayer(3, width, kernel_size=9, stride=1)
        self.in1 = InstanceNorm2d(width, affine=True)
        self.conv2 = ConvLayer(width, 2 * width, kernel_size=3, stride=2)
        self.in2 = InstanceNorm2d(2 * width, affine=True)
        self.conv3 = ConvLayer(2 * width, 4 * width, kernel_size=3, stride=2)
        self.in3 = InstanceNorm2d(4 * width, affine=True)
        self.res1 = ResidualBlock(4 * width)
        self.res2 = ResidualBlock(4 * width)
        self.res3 = ResidualBlock(4 * width)
        self.res4 = ResidualBlock(4 * width)
        self.res5 = ResidualBlock(4 * width)
        self.deconv1 = UpsampleConvLayer(4 * width, 2 * width, kernel_size=3)
        self.in4 = InstanceNorm2d(2 * width, affine=True)
        self.deconv2 = UpsampleConvLayer(2 * width, width, kernel_size=3)
        self.in5 = InstanceNorm2d(width, affine=True)
        self.deconv3 = ConvLayer(width, 3, kernel_size=9, stride=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res5(self.res4(self.res3(self.res2(self.res1(y)))))
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def build(config: Mapping[str, Any]) -> TransformerNet:
    return TransformerNet(width=int(config["width"]))


def infer_config(shapes: Shapes) -> dict[str, Any]:
    width = tensor_shape(shapes, "conv1.conv2d.weight", rank=4, architecture=NAME)[0]
    return {"width": width}


def legacy_keys(keys: Iterable[str]) -> frozenset[str]:
    return frozenset(key for key in keys if _LEGACY_KEY.search(key))
