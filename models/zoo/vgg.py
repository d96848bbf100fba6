"""VGG19 `features` in torchvision's layout, the metric network of scoring.

`features.N.weight` / `features.N.bias` as in torchvision's vgg19 (configuration E), so the
published vgg19-dcbb9e9d.pth loads unchanged; its `classifier.*` tensors are never used by the
metric and are ignored. ReLUs are not in place, so every tapped activation stays intact. Input
is an ImageNet-normalised batch; normalisation is the caller's business.

`width` scales every layer (64 in the real network) so tests can use a small one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from models.zoo.shapes import Shapes, tensor_shape

NAME = "vgg19"
# Indices into `features` of the activations the metrics use (DESIGN.md section 6).
RELU1_1, RELU2_1, RELU3_1, RELU4_1, RELU4_2, RELU5_1 = 1, 6, 11, 20, 22, 29
# torchvision's configuration E, in multiples of `width`; "M" is a 2×2 max pool.
_LAYOUT = (1, 1, "M", 2, 2, "M", 4, 4, 4, 4, "M", 8, 8, 8, 8, "M", 8, 8, 8, 8, "M")


class VGG19(nn.Module):
    def __init__(self, width: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, width * int(item), 3, padding=1), nn.ReLU()]
                channels = width * int(item)
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, taps: Sequence[int]) -> dict[int, torch.Tensor]:
        """Activations after the layers at `taps`, running no layer past the deepest of them."""
        wanted = set(taps)
        if not wanted or max(wanted) >= len(self.features) or min(wanted) < 0:
            raise ValueError(f"taps must be indices into features, not {sorted(wanted)}")
        activations: dict[int, torch.Tensor] = {}
        for index, layer in enumerate(self.features[: max(wanted) + 1]):
            x = layer(x)
            if index in wanted:
                activations[index] = x
        return activations


def random_vgg19(seed: int, width: int = 64) -> VGG19:
    """A VGG19 with torchvision's initialisation (Kaiming normal, fan_out; zero bias).

    Bit-identical for the same seed and width: it draws from its own generator, never from the
    global one, and the module is built on the meta device so nothing else draws first.
    """
    with torch.device("meta"):
        model = VGG19(width)
    model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(seed)
    for module in model.features:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(
                module.weight, mode="fan_out", nonlinearity="relu", generator=generator
            )
            nn.init.zeros_(module.bias)
    return model.eval()


def build(config: Mapping[str, Any]) -> VGG19:
    return VGG19(width=int(config["width"]))


def infer_config(shapes: Shapes) -> dict[str, Any]:
    return {"width": tensor_shape(shapes, "features.0.weight", rank=4, architecture=NAME)[0]}


def classifier_keys(keys: Iterable[str]) -> frozenset[str]:
    return frozenset(key for key in keys if key.startswith("classifier."))
