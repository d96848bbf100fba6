"""The registry of architectures a checkpoint can name.

An `Architecture` says how to build the network from a config, how to read that config off a
checkpoint's tensor shapes, which tensors of published checkpoints to ignore, its native pixel
range and whether it takes a style image. Submissions name a generator architecture; scoring
loads its metric networks (`vgg19`, `patch_discriminator`) through the same path.

`exported` is the architecture of `.pt2` programs the zoo does not know, `onnx` that of ONNX
models: the file itself is the network, and its input signature is read off the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from torch import nn

from models.errors import UNKNOWN_ARCHITECTURE, ErrorCode, ModelError
from models.io_range import IORange
from models.zoo import (
    adain,
    patch_discriminator,
    resnet_generator,
    transformer_net,
    unet_generator,
    vgg,
)
from models.zoo.layers import instance_norm_statistics
from models.zoo.shapes import Shapes

EXPORTED = "exported"
ONNX = "onnx"


class Inputs(StrEnum):
    """What a generator takes: a content batch, or a content batch and a style batch."""

    CONTENT = "content"
    CONTENT_STYLE = "content_style"


class Role(StrEnum):
    GENERATOR = "generator"
    METRIC = "metric"


def _no_ignored_keys(keys: Iterable[str]) -> frozenset[str]:
    return frozenset()


@dataclass(frozen=True)
class Architecture:
    """One entry of the registry.

    The callables must be module-level functions: the runner sends the whole entry to its child
    process by pickling, which imports the module defining them there.
    """

    name: str
    description: str
    role: Role
    io_range: IORange
    inputs: Inputs
    # None for `exported` and `onnx`, whose network is the uploaded file.
    build: Callable[[Mapping[str, Any]], nn.Module] | None
    infer_config: Callable[[Shapes], dict[str, Any]] | None
    ignored_keys: Callable[[Iterable[str]], frozenset[str]] = _no_ignored_keys
    # The checkpoint format that is the network itself ("exported", "onnx"); None for zoo
    # networks, built from weights.
    program_format: str | None = None


_REGISTRY: dict[str, Architecture] = {}


def register_architecture(architecture: Architecture) -> None:
    """Add an architecture; a name can be registered once."""
    if architecture.name in _REGISTRY:
        raise ValueError(f"architecture {architecture.name!r} is already registered")
    _REGISTRY[architecture.name] = architecture


def unregister_architecture(name: str) -> None:
    del _REGISTRY[name]


def architectures(role: Role | None = Role.GENERATOR) -> list[Architecture]:
    """Registered architectures of a role (all with None), in registration order."""
    return [entry for entry in _REGISTRY.values() if role is None or entry.role == role]


def get_architecture(name: str, role: Role | None = None) -> Architecture:
    """The registered architecture called `name`, of `role` when one is given."""
    entry = _REGISTRY.get(name)
    if entry is None or (role is not None and entry.role != role):
        known = ", ".join(entry.name for entry in architectures(Role.GENERATOR))
        raise ModelError(
            ErrorCode.UNKNOWN_ARCHITECTURE, UNKNOWN_ARCHITECTURE.format(name=name, known=known)
        )
    return entry


for _entry in (
    Architecture(
        name=transformer_net.NAME,
        description="TransformerNet (Johnson et al. 2016, pytorch/examples fast_neural_style), "
        "any base width; pixels 0..255",
        role=Role.GENERATOR,
        io_range=IORange.BYTE,
        inputs=Inputs.CONTENT,
        build=transformer_net.build,
        infer_config=transformer_net.infer_config,
        ignored_keys=transformer_net.legacy_keys,
    ),
    Architecture(
        name=resnet_generator.NAME,
        description="CycleGAN ResnetGenerator (any ngf and number of blocks); pixels -1..1",
        role=Role.GENERATOR,
        io_range=IORange.SIGNED,
        inputs=Inputs.CONTENT,
        build=resnet_generator.build,
        infer_config=resnet_generator.infer_config,
        ignored_keys=instance_norm_statistics,
    ),
    Architecture(
        name=unet_generator.NAME,
        description="pix2pix UnetGenerator (any ngf and depth); pixels -1..1",
        role=Role.GENERATOR,
        io_range=IORange.SIGNED,
        inputs=Inputs.CONTENT,
        build=unet_generator.build,
        infer_config=unet_generator.infer_config,
        ignored_keys=instance_norm_statistics,
    ),
    Architecture(
        name=adain.NAME,
        description="AdaIN encoder-decoder (Huang & Belongie 2017) taking content and style; "
        "pixels 0..1",
        role=Role.GENERATOR,
        io_range=IORange.UNIT,
        inputs=Inputs.CONTENT_STYLE,
        build=adain.build,
        infer_config=adain.infer_config,
        ignored_keys=adain.unused_encoder_keys,
    ),
    Architecture(
        name=EXPORTED,
        description="Any generator saved with torch.export (.pt2) taking content, or content "
        "and style; pixels 0..1 unless declared",
        role=Role.GENERATOR,
        io_range=IORange.UNIT,
        inputs=Inputs.CONTENT,
        build=None,
        infer_config=None,
        program_format="exported",
    ),
    Architecture(
        name=ONNX,
        description="Any generator exported to ONNX (.onnx, standard operators, weights inside "
        "the file) taking content, or content and style; pixels 0..255 unless declared",
        role=Role.GENERATOR,
        io_range=IORange.BYTE,
        inputs=Inputs.CONTENT,
        build=None,
        infer_config=None,
        program_format="onnx",
    ),
    Architecture(
        name=vgg.NAME,
        description="VGG19 features in torchvision's layout (metric network)",
        role=Role.METRIC,
        io_range=IORange.UNIT,
        inputs=Inputs.CONTENT,
        build=vgg.build,
        infer_config=vgg.infer_config,
        ignored_keys=vgg.classifier_keys,
    ),
    Architecture(
        name=patch_discriminator.NAME,
        description="PatchGAN discriminator (pix2pix NLayerDiscriminator layout), the judge",
        role=Role.METRIC,
        io_range=IORange.UNIT,
        inputs=Inputs.CONTENT,
        build=patch_discriminator.build,
        infer_config=patch_discriminator.infer_config,
        ignored_keys=instance_norm_statistics,
    ),
):
    register_architecture(_entry)
