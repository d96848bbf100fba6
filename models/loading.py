"""From a checkpoint file to a checked description, a network, or a ready-to-run generator.

`validate_checkpoint` reads the file safely, infers the architecture's config from the tensor
shapes, checks keys, shapes and the declared config on a network built on the meta device, and
never runs a forward pass; an upload runs it in a child process under time and memory limits
(`models.runner.validate_in_child`), whose answer is the `CheckpointInfo`'s plain fields.
`load_generator` does the same and then builds the real network; the runner's child process
calls it, and so can tests and benchmarks that want the same generator in-process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.export import ExportedProgram

from models import exported
from models.architectures import Architecture, Inputs, Role, get_architecture
from models.checkpoints import (
    CheckpointFormat,
    CheckpointLimits,
    RawCheckpoint,
    read_checkpoint,
)
from models.errors import (
    BAD_INPUT_SIGNATURE,
    BAD_OUTPUT_SHAPE,
    CONFIG_MISMATCH,
    DTYPE_MISMATCH,
    EXPORTED_PROGRAM_REQUIRED,
    MISSING_KEYS,
    NON_FINITE_OUTPUT,
    ONNX_ARCHITECTURE,
    ONNX_REQUIRED,
    SHAPE_MISMATCH,
    STATE_DICT_REQUIRED,
    UNEXPECTED_KEYS,
    UNKNOWN_SETTING,
    ErrorCode,
    ModelError,
    first_keys,
)
from models.io_range import IORange, from_model_range, to_model_range
from models.onnx_graph import OnnxGenerator

_SHA256 = re.compile(r"[0-9a-f]{64}")
# Batch norm layers count batches only while training; checkpoints from before PyTorch 0.4.1
# lack the counter, and load_state_dict fills it in.
_OPTIONAL_SUFFIX = ".num_batches_tracked"
_INPUT_NAMES = {Inputs.CONTENT: "one input (content)", Inputs.CONTENT_STYLE: "two inputs"}


@dataclass(frozen=True)
class CheckpointSpec:
    """What a submission states: its file, architecture, optional config and I/O range."""

    path: Path
    architecture: str
    config: Mapping[str, Any] | None = None
    # An IORange or its API string ("0-1", "0-255", "-1-1"); None: the architecture's default.
    io_range: IORange | str | None = None


@dataclass(frozen=True)
class CheckpointInfo:
    """What validation found out about a checkpoint, small enough to store on a submission."""

    format: CheckpointFormat
    architecture: str
    config: dict[str, Any]
    io_range: IORange
    inputs: Inputs
    param_count: int
    size_bytes: int
    sha256: str

    def fields(self) -> dict[str, Any]:
        """Plain data (JSON's types) that `from_fields` turns back into the same info."""
        return asdict(self)

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> CheckpointInfo:
        """The info that `fields()` wrote; ValueError for anything else."""
        counts = [fields.get(name) for name in ("param_count", "size_bytes")]
        if set(fields) != {item.name for item in dataclass_fields(cls)}:
            raise ValueError(f"fields {sorted(fields)[:10]}")
        if not all(isinstance(count, int) and count >= 0 for count in counts):
            raise ValueError(f"counts {counts}")
        if not isinstance(fields["config"], dict) or not _SHA256.fullmatch(str(fields["sha256"])):
            raise ValueError("config or sha256")
        return cls(
            format=CheckpointFormat(fields["format"]),
            architecture=str(fields["architecture"]),
            config=fields["config"],
            io_range=IORange(fields["io_range"]),
            inputs=Inputs(fields["inputs"]),
            param_count=fields["param_count"],
            size_bytes=fields["size_bytes"],
            sha256=fields["sha256"],
        )


@dataclass
class LoadedGenerator:
    """A generator network with its I/O conventions: [0, 1] in, checked [0, 1] out."""

    info: CheckpointInfo
    module: nn.Module | OnnxGenerator
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def prepare(self, device: torch.device) -> None:
        """Move to `device` for inference, channels_last on CPU for zoo networks; for an ONNX
        model, build its ONNX Runtime session for `device`.

        Exported programs keep the layout they were traced with: a participant's graph may
        view tensors in ways only the contiguous layout allows.
        """
        if isinstance(self.module, OnnxGenerator):
            self.module.prepare(device)
        else:
            self.module.to(device=device, memory_format=self._memory_format(device))
        self.device = device

    def __call__(self, content: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """Stylise a batch of float RGB images in [0, 1]; call under torch.inference_mode()."""
        memory_format = self._memory_format(self.device)
        ready = [
            to_model_range(batch.to(self.device), self.info.io_range).contiguous(
                memory_format=memory_format
            )
            for batch in ([content] if style is None else [content, style])
        ]
        output = self.module(*ready)
        if isinstance(output, tuple | list) and len(output) == 1:
            output = output[0]
        return _check_output(output, tuple(content.shape), self.info.io_range)

    def _memory_format(self, device: torch.device) -> torch.memory_format:
        zoo_network = self.info.format not in (CheckpointFormat.EXPORTED, CheckpointFormat.ONNX)
        if device.type == "cpu" and zoo_network:
            return torch.channels_last
        return torch.contiguous_format


def _check_output(output: object, expected: tuple[int, ...], io_range: IORange) -> torch.Tensor:
    """The generator's output mapped to [0, 1], after checking its shape and values."""
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != expected:
        found = list(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ModelError(
            ErrorCode.BAD_OUTPUT_SHAPE,
            BAD_OUTPUT_SHAPE.format(found=found, expected=list(expected)),
        )
    output = output.float()
    if not bool(torch.isfinite(output).all()):
        raise ModelError(ErrorCode.NON_FINITE_OUTPUT, NON_FINITE_OUTPUT)
    return from_model_range(output, io_range)


def validate_checkpoint(
    spec: CheckpointSpec,
    limits: CheckpointLimits | None = None,
    *,
    architecture: Architecture | None = None,
) -> CheckpointInfo:
    """Check a checkpoint against its architecture without running it.

    Generators and metric networks alike (an organizer's judge is validated on upload too). The
    network is only built on the meta device, which allocates nothing, and the file is read in
    chunks (a `.pt2` program excepted), so validating costs little memory whatever its size.
    `architecture` overrides the registry lookup, as for `load_generator`.
    """
    entry = architecture or get_architecture(spec.architecture)
    info, raw = _inspect(spec, entry, limits or CheckpointLimits(), weights=False)
    if raw.graph is not None:
        # An ONNX graph the checks let through may still be one the runtime cannot build
        # (an operator it lacks, types that do not line up): better refused now than scored.
        OnnxGenerator(raw.graph).prepare(torch.device("cpu"), threads=1)
    return info


def load_generator(
    spec: CheckpointSpec,
    limits: CheckpointLimits | None = None,
    *,
    architecture: Architecture | None = None,
) -> LoadedGenerator:
    """Validate a generator checkpoint and build its network on the CPU.

    `architecture` overrides the registry lookup; the runner's child process gets the entry
    from its parent, since an architecture registered at run time (a test's) is not in the
    child's registry.
    """
    entry = architecture or get_architecture(spec.architecture, Role.GENERATOR)
    info, raw = _inspect(spec, entry, limits or CheckpointLimits())
    return LoadedGenerator(info=info, module=_build(entry, info, raw))


def load_network(spec: CheckpointSpec, limits: CheckpointLimits | None = None) -> nn.Module:
    """Validate a checkpoint of any zoo architecture and return its network in eval mode.

    For metric networks (`vgg19`, `patch_discriminator`), which scoring runs in-process on
    weights an organizer provided.
    """
    architecture = get_architecture(spec.architecture)
    info, raw = _inspect(spec, architecture, limits or CheckpointLimits())
    network = _build(architecture, info, raw)
    if not isinstance(network, nn.Module):  # only the 'onnx' architecture takes ONNX files
        raise ModelError(
            ErrorCode.UNSUPPORTED_FORMAT, STATE_DICT_REQUIRED.format(architecture=info.architecture)
        )
    return network


def _inspect(
    spec: CheckpointSpec,
    architecture: Architecture,
    limits: CheckpointLimits,
    *,
    weights: bool = True,
) -> tuple[CheckpointInfo, RawCheckpoint]:
    """Read and check the checkpoint; without weights its state dict stays on the meta device."""
    raw = read_checkpoint(Path(spec.path), limits, weights=weights)
    _check_format(architecture, raw.format)
    inputs = architecture.inputs
    if raw.graph is not None:
        inferred: dict[str, Any] = raw.graph.config
        inputs = Inputs(inferred["inputs"])
    elif raw.program is not None and architecture.infer_config is None:
        inputs = _program_inputs(raw.program)
        inferred = {"inputs": str(inputs)}
    else:
        inferred = _match_weights(architecture, raw.tensors)
        if raw.program is not None:
            _check_program_inputs(raw.program, inputs)
    _check_declared(architecture, spec.config or {}, inferred)
    info = CheckpointInfo(
        format=raw.format,
        architecture=architecture.name,
        config=inferred,
        io_range=IORange(spec.io_range) if spec.io_range else architecture.io_range,
        inputs=inputs,
        param_count=raw.param_count,
        size_bytes=raw.size_bytes,
        sha256=raw.sha256,
    )
    return info, raw


def _shapes(tensors: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(tensor.shape) for key, tensor in tensors.items()}


def _check_format(architecture: Architecture, checkpoint_format: CheckpointFormat) -> None:
    """The file's format is one the architecture is read from: its own program format for
    `exported` and `onnx`, weights (or a `.pt2` of them) for zoo networks, never ONNX for
    them, and weights only for metric networks."""
    program = architecture.program_format
    template = None
    if program is not None and checkpoint_format != program:
        template = ONNX_REQUIRED if program == CheckpointFormat.ONNX else EXPORTED_PROGRAM_REQUIRED
    elif checkpoint_format is CheckpointFormat.ONNX and program is None:
        template = ONNX_ARCHITECTURE
    elif architecture.role == Role.METRIC and checkpoint_format is CheckpointFormat.EXPORTED:
        template = STATE_DICT_REQUIRED
    if template is not None:
        message = template.format(architecture=architecture.name)
        raise ModelError(ErrorCode.UNSUPPORTED_FORMAT, message)


def _match_weights(
    architecture: Architecture, tensors: Mapping[str, torch.Tensor]
) -> dict[str, Any]:
    """Infer the config from the tensor shapes and check every tensor against it."""
    assert architecture.infer_config is not None
    assert architecture.build is not None
    ignored = architecture.ignored_keys(tensors)
    given = {key: tensor for key, tensor in tensors.items() if key not in ignored}
    config = architecture.infer_config(_shapes(given))
    with torch.device("meta"):
        expected = architecture.build(config).state_dict()
    name = architecture.name
    missing = [k for k in expected if k not in given and not k.endswith(_OPTIONAL_SUFFIX)]
    if missing:
        message = MISSING_KEYS.format(
            count=len(missing), architecture=name, keys=first_keys(missing)
        )
        raise ModelError(ErrorCode.MISSING_KEYS, message)
    unexpected = [key for key in given if key not in expected]
    if unexpected:
        message = UNEXPECTED_KEYS.format(
            count=len(unexpected), architecture=name, keys=first_keys(unexpected)
        )
        raise ModelError(ErrorCode.UNEXPECTED_KEYS, message)
    for key, tensor in given.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            message = SHAPE_MISMATCH.format(
                key=key,
                found=list(tensor.shape),
                architecture=name,
                expected=list(expected[key].shape),
            )
            raise ModelError(ErrorCode.SHAPE_MISMATCH, message)
        if expected[key].is_floating_point() and not tensor.is_floating_point():
            message = DTYPE_MISMATCH.format(key=key, found=str(tensor.dtype).removeprefix("torch."))
            raise ModelError(ErrorCode.DTYPE_MISMATCH, message)
    return config


def _check_declared(
    architecture: Architecture, declared: Mapping[str, Any], inferred: Mapping[str, Any]
) -> None:
    for setting, value in declared.items():
        if setting not in inferred:
            message = UNKNOWN_SETTING.format(
                setting=setting, architecture=architecture.name, known=", ".join(inferred)
            )
            raise ModelError(ErrorCode.CONFIG_MISMATCH, message)
        if value != inferred[setting]:
            message = CONFIG_MISMATCH.format(
                setting=setting, declared=value, inferred=inferred[setting]
            )
            raise ModelError(ErrorCode.CONFIG_MISMATCH, message)


def _program_inputs(program: ExportedProgram) -> Inputs:
    count = len(exported.user_inputs(program))
    inputs = {1: Inputs.CONTENT, 2: Inputs.CONTENT_STYLE}.get(count)
    if inputs is None:
        raise _bad_signature("content, or content and style", f"it takes {count} inputs")
    _check_program_inputs(program, inputs)
    return inputs


def _check_program_inputs(program: ExportedProgram, inputs: Inputs) -> None:
    """Each input N×3×H×W, float, with symbolic batch, height and width; one output."""
    expected = _INPUT_NAMES[inputs]
    nodes = exported.user_inputs(program)
    if len(nodes) != (1 if inputs is Inputs.CONTENT else 2):
        raise _bad_signature(expected, f"it takes {len(nodes)}")
    for node in nodes:
        value = node.meta.get("val")
        if not isinstance(value, torch.Tensor) or value.dim() != 4 or value.shape[1] != 3:
            raise _bad_signature(expected, f"input '{node.name}' is not N×3×H×W")
        if not value.is_floating_point():
            raise _bad_signature(expected, f"input '{node.name}' is not floating-point")
        if any(isinstance(value.shape[dim], int) for dim in (0, 2, 3)):
            raise _bad_signature(expected, f"input '{node.name}' was exported with fixed sizes")
    if len(program.graph_signature.user_outputs) != 1:
        raise _bad_signature(expected, "it must return exactly one tensor")


def _bad_signature(expected: str, problem: str) -> ModelError:
    message = BAD_INPUT_SIGNATURE.format(expected=expected, problem=problem)
    return ModelError(ErrorCode.BAD_INPUT_SIGNATURE, message)


def _build(
    architecture: Architecture, info: CheckpointInfo, raw: RawCheckpoint
) -> nn.Module | OnnxGenerator:
    """The network with the checkpoint's weights, ready for inference.

    Zoo networks are put in eval mode; exported programs have no modes (they were traced in
    whichever mode the participant exported them).
    """
    if raw.graph is not None:
        return OnnxGenerator(raw.graph)
    if raw.program is not None:
        return raw.program.module()
    assert architecture.build is not None
    ignored = architecture.ignored_keys(raw.tensors)
    module = architecture.build(info.config)
    module.load_state_dict(
        {key: value for key, value in raw.tensors.items() if key not in ignored}, strict=True
    )
    return module.eval()
