"""Small networks with random weights, and the files a participant would upload for them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from models.architectures import Inputs, get_architecture
from models.zoo.transformer_net import TransformerNet

SIZE = 32
# Small configurations of every zoo architecture; names are test ids.
GENERATOR_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "transformer_net": ("transformer_net", {"width": 4}),
    "resnet_generator": (
        "resnet_generator",
        {"ngf": 4, "n_blocks": 2, "norm": "instance", "dropout": False},
    ),
    "resnet_generator_batch_dropout": (
        "resnet_generator",
        {"ngf": 4, "n_blocks": 2, "norm": "batch", "dropout": True},
    ),
    "unet_generator": ("unet_generator", {"ngf": 4, "num_downs": 5, "norm": "batch"}),
    "unet_generator_instance": ("unet_generator", {"ngf": 4, "num_downs": 5, "norm": "instance"}),
    "adain": ("adain", {"width": 4}),
}
METRIC_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "vgg19": ("vgg19", {"width": 4}),
    "patch_discriminator": ("patch_discriminator", {"width": 4, "n_layers": 2, "norm": "instance"}),
    "patch_discriminator_batch": (
        "patch_discriminator",
        {"width": 4, "n_layers": 3, "norm": "batch"},
    ),
}


def random_network(architecture: str, config: Mapping[str, Any], seed: int = 0) -> nn.Module:
    """The architecture with seeded random weights, norm parameters and running statistics."""
    build = get_architecture(architecture, role=None).build
    assert build is not None
    torch.manual_seed(seed)
    network = build(config)
    generator = torch.Generator().manual_seed(seed)
    # Vectors are norm scales and shifts, biases and running statistics: defaults of 0 and 1
    # would let a loader that skipped them pass.
    for name, tensor in network.state_dict().items():
        if tensor.dim() != 1 or not tensor.is_floating_point():
            continue
        if name.endswith(("weight", "running_var")):
            tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
        else:
            tensor.copy_(0.1 * torch.randn(tensor.shape, generator=generator))
    return network.eval()


def images(count: int, seed: int, size: int = SIZE) -> torch.Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed))


def example_inputs(architecture: str, count: int = 2, seed: int = 1) -> tuple[torch.Tensor, ...]:
    if get_architecture(architecture, role=None).inputs is Inputs.CONTENT_STYLE:
        return images(count, seed), images(count, seed + 1)
    return (images(count, seed),)


def save_safetensors(state_dict: Mapping[str, torch.Tensor], path: Path) -> Path:
    safetensors.torch.save_file({k: v.contiguous() for k, v in state_dict.items()}, path)
    return path


def save_torch(state_dict: Mapping[str, torch.Tensor], path: Path, nest: str | None = None) -> Path:
    torch.save(dict(state_dict) if nest is None else {nest: dict(state_dict), "epoch": 7}, path)
    return path


def export_program(network: nn.Module, inputs: tuple[torch.Tensor, ...], path: Path) -> Path:
    """Save `network` as a participant would: torch.export with dynamic batch, height, width."""
    dynamic = torch.export.Dim.DYNAMIC
    shapes = tuple({0: dynamic, 2: dynamic, 3: dynamic} for _ in inputs)
    program = torch.export.export(network.eval(), inputs, dynamic_shapes=shapes)
    torch.export.save(program, path)
    return path


def save_wide_legacy_pth(folder: Path) -> Path:
    """A width-64 TransformerNet (27 MB) in torch.save's legacy format, which validation reads
    whole: big enough for memory limits to bite."""
    torch.manual_seed(0)
    path = folder / "wide.pth"
    torch.save(TransformerNet(64).state_dict(), path, _use_new_zipfile_serialization=False)
    return path
