"""ResnetGenerator of CycleGAN (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py).

One `model` Sequential with the reference's indices, so its keys load unchanged: a 7×7 stem at
`model.1`, two stride-2 convolutions at `model.4` and `model.7`, residual blocks from `model.10`
(`model.10.conv_block.1.weight`, ...), two transposed convolutions and a 7×7 head with tanh.
Reflection padding as in the reference's default. Works in -1..1.

Inferred from the weights: `ngf` (stem width), `n_blocks`, `norm` (`instance`, CycleGAN's
default, has no weights and biased convolutions; `batch` has weights and unbiased convolutions)
and `dropout` (a Dropout inside each block shifts its second convolution from index 5 to 6).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from models.zoo.layers import InstanceNorm2d
from models.zoo.shapes import Shapes, count_consecutive, tensor_shape

NAME = "resnet_generator"
FIRST_BLOCK = 10
NORMS = ("instance", "batch")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return InstanceNorm2d(channels, affine=False)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, *, norm: str, dropout: bool) -> None:
        super().__init__()
        bias = norm == "instance"
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, bias=bias),
            _norm(norm, dim),
            nn.ReLU(True),
        ]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, bias=bias)]
        layers.append(_norm(norm, dim))
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(
        self, ngf: int = 64, n_blocks: int = 9, norm: str = "instance", dropout: bool = False
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
        bias = norm == "instance"
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, ngf, kernel_size=7, bias=bias),
            _norm(norm, ngf),
            nn.ReLU(True),
        ]
        for multiple in (1, 2):
            layers += [
                nn.Conv2d(ngf * multiple, ngf * multiple * 2, 3, stride=2, padding=1, bias=bias),
                _norm(norm, ngf * multiple * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4, norm=norm, dropout=dropout) for _ in range(n_blocks)]
        for multiple in (4, 2):
            layers += [
                nn.ConvTranspose2d(
                    ngf * multiple,
                    ngf * multiple // 2,
                    kernel_size=3,
                    stride=2,
                    padding=1,
                    output_padding=1,
                    bias=bias,
                ),
                _norm(norm, ngf * multiple // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, kernel_size=7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def build(config: Mapping[str, Any]) -> ResnetGenerator:
    return ResnetGenerator(
        ngf=int(config["ngf"]),
        n_blocks=int(config["n_blocks"]),
        norm=str(config["norm"]),
        dropout=bool(config["dropout"]),
    )


def infer_config(shapes: Shapes) -> dict[str, Any]:
    ngf = tensor_shape(shapes, "model.1.weight", rank=4, architecture=NAME)[0]
    n_blocks = count_consecutive(shapes, "model.{}.conv_block.1.weight", start=FIRST_BLOCK)
    dropout = f"model.{FIRST_BLOCK}.conv_block.6.weight" in shapes
    norm = "batch" if "model.2.weight" in shapes else "instance"
    return {"ngf": ngf, "n_blocks": n_blocks, "norm": norm, "dropout": dropout}
