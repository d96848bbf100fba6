"""UnetGenerator of pix2pix (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py).

Nested skip-connection blocks with the reference's Sequential indices, so keys such as
`model.model.0.weight` (outermost down-convolution), `model.model.1.model.1.weight` and
`model.model.1.model.3.model.2.running_mean` load unchanged. Works in -1..1; inputs need
height and width divisible by 2**num_downs.

Inferred from the weights: `ngf` (outermost width), `num_downs` (nesting depth, at least 5 by
construction) and `norm` (`batch`, pix2pix's default, or `instance`). Dropout layers carry no
weights and are the identity at inference, so the zoo module leaves them out; they sit last in
their Sequential and removing them shifts no index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from models.zoo.layers import InstanceNorm2d
from models.zoo.shapes import Shapes, tensor_shape

NAME = "unet_generator"
MIN_DOWNS = 5
NORMS = ("batch", "instance")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return InstanceNorm2d(channels, affine=False)


class UnetSkipConnectionBlock(nn.Module):
    """down → submodule → up, concatenated with the block's input except at the outermost."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        *,
        norm: str,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        bias = norm == "instance"
        downconv = nn.Conv2d(
            input_nc or outer_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias
        )
        if submodule is None:
            upconv = nn.ConvTranspose2d(
                inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias
            )
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True), upconv]
            layers.append(_norm(norm, outer_nc))
        elif outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, nn.ReLU(True), upconv, nn.Tanh()]
        else:
            upconv = nn.ConvTranspose2d(
                inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias
            )
            layers = [nn.LeakyReLU(0.2, True), downconv, _norm(norm, inner_nc), submodule]
            layers += [nn.ReLU(True), upconv, _norm(norm, outer_nc)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, ngf: int = 64, num_downs: int = 8, norm: str = "batch") -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
        if num_downs < MIN_DOWNS:
            raise ValueError(f"num_downs must be at least {MIN_DOWNS}, not {num_downs}")
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm=norm)
        for _ in range(num_downs - MIN_DOWNS):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm=norm, submodule=block)
        for outer, inner in ((4, 8), (2, 4), (1, 2)):
            block = UnetSkipConnectionBlock(ngf * outer, ngf * inner, norm=norm, submodule=block)
        self.model = UnetSkipConnectionBlock(
            3, ngf, norm=norm, input_nc=3, submodule=block, outermost=True
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def build(config: Mapping[str, Any]) -> UnetGenerator:
    return UnetGenerator(
        ngf=int(config["ngf"]), num_downs=int(config["num_downs"]), norm=str(config["norm"])
    )


def infer_config(shapes: Shapes) -> dict[str, Any]:
    ngf = tensor_shape(shapes, "model.model.0.weight", rank=4, architecture=NAME)[0]
    # Every block below the outermost has its down-convolution at index 1 and its submodule
    # (when it has one) at index 3.
    depth, prefix = 1, "model.model.1.model."
    while f"{prefix}1.weight" in shapes:
        depth, prefix = depth + 1, f"{prefix}3.model."
    norm = "batch" if "model.model.1.model.2.weight" in shapes else "instance"
    return {"ngf": ngf, "num_downs": max(depth, MIN_DOWNS), "norm": norm}
