"""ONNX generators: a graph checked before anything runs, then run by ONNX Runtime.

An ONNX file is a declarative graph of standard operators, which fits the rule that no
participant code runs, provided the loader closes the format's own doors to native code and to
the file system. `read_onnx` parses the ModelProto from the file's bytes (nothing else is ever
opened) and refuses, before any runtime sees it:

- anything outside the default operator domain (`""` / `ai.onnx`): custom operators are native
  code, and `EPContext` nodes embed compiled binaries or name files beside the model;
- external data (an initializer or an attribute tensor stored in another file, by a path the
  participant chose: the path traversal of CVE-2024-27318 and its successors);
- model-local functions, which could hide the above one level down; subgraphs (If, Loop, Scan
  bodies) are walked with the same rules;
- more nodes or initializers than `OnnxLimits` allows, more parameters than the checkpoint
  limits, initializers with NaN or Inf;
- an opset outside `MIN_OPSET`..`MAX_OPSET`, or a graph `onnx.checker` finds malformed;
- inputs that are not one (content) or two (content, style) float N×3×H×W images, or more than
  one output. Batch, height and width may be dynamic or fixed; a batch fixed at 1 is fed one
  image at a time, a fixed height and width must be the challenge's resolution (checked by the
  caller, which knows it).

`OnnxGenerator` builds the ONNX Runtime session (in the sandboxed child: the runner's, or the
validation child's, which builds one so that a graph the runtime cannot run is refused at
upload): graph optimisations on, one inter-op thread and the worker's intra-op thread count, no
profiling, no optimised model written anywhere, no custom operator library ever registered,
the model given as bytes so that no path beside it can be resolved. The CUDA provider is used on
a GPU worker when ONNX Runtime has it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from models.errors import (
    BAD_ONNX_SIGNATURE,
    CORRUPT_ONNX,
    INVALID_GRAPH,
    NON_FINITE_WEIGHTS,
    TOO_MANY_PARAMETERS,
    UNSAFE_GRAPH,
    ErrorCode,
    ModelError,
    out_of_memory,
)
from models.structure import too_complex

if TYPE_CHECKING:
    import onnxruntime

# Opsets ONNX Runtime and the checker both know, from the oldest exporters still in use to
# what torch.onnx.export writes today.
MIN_OPSET = 7
MAX_OPSET = 23
DEFAULT_DOMAINS = frozenset({"", "ai.onnx"})
_FLOAT_TYPES = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.FLOAT16: np.float16,
    onnx.TensorProto.DOUBLE: np.float64,
}
_INPUT_ROLES = ("content", "style")
_ATTRIBUTE = onnx.AttributeProto


@dataclass(frozen=True)
class OnnxLimits:
    """Bounds on a graph, besides the file size and parameter count of every checkpoint."""

    max_nodes: int = 10_000
    max_initializers: int = 10_000


@dataclass(frozen=True)
class OnnxInput:
    name: str
    dtype: Any  # the NumPy dtype ONNX Runtime expects


@dataclass(frozen=True)
class OnnxGraph:
    """A checked ONNX model: its bytes, its inputs in order, and what the checks found."""

    data: bytes
    inputs: tuple[OnnxInput, ...]
    output: str
    # 1 when the graph takes one image at a time; None when the batch size is dynamic.
    batch: int | None
    # (height, width) when the graph was exported at a fixed size; None when dynamic.
    size: tuple[int, int] | None
    param_count: int
    opset: int

    @property
    def config(self) -> dict[str, Any]:
        """What a submission stores: inputs, fixed batch and size (JSON's types)."""
        return {
            "inputs": "content" if len(self.inputs) == 1 else "content_style",
            "batch": self.batch,
            "size": list(self.size) if self.size else None,
            "opset": self.opset,
        }


def read_onnx(path: Path, *, max_params: int, limits: OnnxLimits) -> OnnxGraph:
    """Parse and check an ONNX file; every refusal a ModelError naming what is wrong."""
    data = path.read_bytes()
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as error:  # protobuf's DecodeError, or a recursion limit
        if out_of_memory(error):
            raise MemoryError(str(error)) from error
        raise _corrupt(repr(error)) from error
    if not model.HasField("graph") or not model.graph.output:
        raise _corrupt("no graph or no output: another kind of protobuf message")
    opset = _check_opsets(model)
    elements = _check_graphs(model, limits, max_params)
    try:
        onnx.checker.check_model(model)
    except Exception as error:  # onnx.checker.ValidationError and friends
        raise _invalid(_first_line(error)) from error
    inputs, batch, size = _check_inputs(model.graph)
    if len(model.graph.output) != 1:
        raise _signature(f"it returns {len(model.graph.output)} outputs, not one image batch")
    _check_output(model.graph.output[0])
    return OnnxGraph(
        data=data,
        inputs=inputs,
        output=model.graph.output[0].name,
        batch=batch,
        size=size,
        param_count=elements,
        opset=opset,
    )


def _check_opsets(model: onnx.ModelProto) -> int:
    if model.functions:
        raise _unsafe(f"{len(model.functions)} model-local function(s)")
    opset = None
    for entry in model.opset_import:
        if entry.domain not in DEFAULT_DOMAINS:
            raise _unsafe(f"the operator domain '{entry.domain[:100]}'")
        opset = entry.version
    if opset is None:
        raise _invalid("it imports no opset of the default domain")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise _invalid(f"opset {opset} is outside the supported {MIN_OPSET}–{MAX_OPSET}")
    return opset


def _graphs(model: onnx.ModelProto) -> Iterator[onnx.GraphProto]:
    """The main graph and every subgraph of every node's attributes, without recursion."""
    pending = [model.graph]
    while pending:
        graph = pending.pop()
        yield graph
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.type == _ATTRIBUTE.GRAPH:
                    pending.append(attribute.g)
                elif attribute.type == _ATTRIBUTE.GRAPHS:
                    pending.extend(attribute.graphs)


def _check_graphs(model: onnx.ModelProto, limits: OnnxLimits, max_params: int) -> int:
    """Parameter elements (initializers and constants) of every graph, after the counts,
    domains and data locations are checked; the count is checked before any value is read."""
    nodes = initializers = 0
    tensors: list[onnx.TensorProto] = []
    for graph in _graphs(model):
        nodes += len(graph.node)
        initializers += len(graph.initializer) + len(graph.sparse_initializer)
        if nodes > limits.max_nodes:
            raise too_complex("ONNX graph", f"over {nodes:,} nodes", f"{limits.max_nodes:,}")
        if initializers > limits.max_initializers:
            found = f"over {initializers:,} initializers"
            raise too_complex("ONNX graph", found, f"{limits.max_initializers:,}")
        tensors.extend(graph.initializer)
        for sparse in graph.sparse_initializer:
            tensors.extend((sparse.values, sparse.indices))
        for node in graph.node:
            if node.domain not in DEFAULT_DOMAINS:
                what = f"the operator '{node.op_type[:100]}' of domain '{node.domain[:100]}'"
                raise _unsafe(what)
            if node.op_type == "EPContext":
                raise _unsafe("an EPContext node (a precompiled binary)")
            for attribute in node.attribute:
                tensors.extend(_attribute_tensors(attribute))
    for tensor in tensors:
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
            raise _unsafe(f"external data for the tensor '{tensor.name[:100]}' (another file)")
    elements = sum(_elements(tensor) for tensor in tensors)
    if elements > max_params:
        message = TOO_MANY_PARAMETERS.format(count=elements, limit=max_params)
        raise ModelError(ErrorCode.TOO_MANY_PARAMETERS, message)
    for tensor in tensors:
        _check_values(tensor)
    return elements


def _attribute_tensors(attribute: onnx.AttributeProto) -> list[onnx.TensorProto]:
    if attribute.type == _ATTRIBUTE.TENSOR:
        return [attribute.t]
    if attribute.type == _ATTRIBUTE.TENSORS:
        return list(attribute.tensors)
    if attribute.type == _ATTRIBUTE.SPARSE_TENSOR:
        return [attribute.sparse_tensor.values, attribute.sparse_tensor.indices]
    if attribute.type == _ATTRIBUTE.SPARSE_TENSORS:
        return [part for s in attribute.sparse_tensors for part in (s.values, s.indices)]
    return []


def _elements(tensor: onnx.TensorProto) -> int:
    count = 1
    for size in tensor.dims:
        if size < 0:
            raise _corrupt(f"negative dimension in {tensor.name!r}")
        count *= size
    return count


def _check_values(tensor: onnx.TensorProto) -> None:
    """A floating-point tensor's values fill its shape and are finite."""
    if tensor.data_type not in _FLOAT_TYPES:
        return
    try:
        values = numpy_helper.to_array(tensor)
    except MemoryError:
        raise
    except Exception as error:  # data that does not fill the declared shape
        raise _corrupt(f"tensor {tensor.name!r}: {error!r}") from error
    if not np.isfinite(values).all():
        message = NON_FINITE_WEIGHTS.format(key=tensor.name[:100])
        raise ModelError(ErrorCode.NON_FINITE_WEIGHTS, message)


def _check_inputs(
    graph: onnx.GraphProto,
) -> tuple[tuple[OnnxInput, ...], int | None, tuple[int, int] | None]:
    """The image inputs (graph inputs that are not initializers, as old exporters list them)."""
    constants = {tensor.name for tensor in graph.initializer}
    images = [value for value in graph.input if value.name not in constants]
    if len(images) not in (1, 2):
        raise _signature(f"it takes {len(images)} inputs")
    inputs, batches, sizes = [], set(), set()
    for role, value in zip(_INPUT_ROLES, images, strict=False):
        tensor = value.type.tensor_type
        if not value.type.HasField("tensor_type") or tensor.elem_type not in _FLOAT_TYPES:
            raise _signature(f"the {role} input '{value.name[:100]}' is not a float tensor")
        dims = [_dimension(dim) for dim in tensor.shape.dim]
        if not tensor.HasField("shape") or len(dims) != 4 or dims[1] not in (3, None):
            raise _signature(f"the {role} input '{value.name[:100]}' is not N×3×H×W")
        if dims[0] not in (1, None):
            raise _signature(f"the {role} input's batch size is fixed at {dims[0]}, not 1")
        if (dims[2] is None) != (dims[3] is None):
            raise _signature(f"the {role} input fixes one side of the image but not the other")
        batches.add(dims[0])
        sizes.add(None if dims[2] is None else (dims[2], dims[3]))
        inputs.append(OnnxInput(value.name, _FLOAT_TYPES[tensor.elem_type]))
    if len(batches) > 1 or len(sizes) > 1:
        raise _signature("its content and style inputs have different batch or image sizes")
    return tuple(inputs), batches.pop(), sizes.pop()


def _check_output(value: onnx.ValueInfoProto) -> None:
    tensor = value.type.tensor_type
    if not value.type.HasField("tensor_type") or tensor.elem_type not in _FLOAT_TYPES:
        raise _signature("its output is not a float tensor")
    if tensor.HasField("shape") and len(tensor.shape.dim) != 4:
        raise _signature(f"its output has {len(tensor.shape.dim)} dimensions, not N×3×H×W")


def _dimension(dim: onnx.TensorShapeProto.Dimension) -> int | None:
    """A fixed size, or None for a symbolic or unknown one."""
    return dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None


class OnnxGenerator:
    """An ONNX Runtime session for a checked graph: float [model range] batches in and out."""

    def __init__(self, graph: OnnxGraph) -> None:
        self.graph = graph
        self.session: onnxruntime.InferenceSession | None = None

    def prepare(self, device: torch.device, *, threads: int | None = None) -> None:
        """Build the session on `device` (CUDA when ONNX Runtime has it, otherwise the CPU)."""
        # Imported here, in the child that runs the graph: importing ONNX Runtime starts a
        # thread, and the runner's forkserver, which forks every child, must stay single-threaded
        # apart from what torch needs (a fork copies one thread, and whatever locks the others
        # held, while their memory keeps growing the image every child starts from).
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.enable_profiling = False
        options.log_severity_level = 3
        # Bytes are ONNX only (never ORT's own flatbuffer format), read from this buffer.
        options.add_session_config_entry("session.load_model_format", "ONNX")
        providers = ["CPUExecutionProvider"]
        if (
            device.type == "cuda"
            and "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        ):
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = onnxruntime.InferenceSession(
                self.graph.data, sess_options=options, providers=providers
            )
        except Exception as error:  # ONNX Runtime's Fail, InvalidGraph, NotImplemented, ...
            if out_of_memory(error):
                raise MemoryError(str(error)) from error
            raise _invalid(_first_line(error)) from error

    def __call__(self, *batches: torch.Tensor) -> torch.Tensor:
        """Run the graph on N×3×H×W float batches (content, then style); N at a time, or one
        image at a time when the graph was exported with a batch of 1."""
        assert self.session is not None, "prepare() builds the session"
        count = batches[0].shape[0]
        step = count if self.graph.batch is None else 1
        outputs = []
        for start in range(0, count, step):
            feeds = {
                spec.name: batch[start : start + step].cpu().numpy().astype(spec.dtype, copy=False)
                for spec, batch in zip(self.graph.inputs, batches, strict=True)
            }
            try:
                (output,) = self.session.run([self.graph.output], feeds)
            except Exception as error:  # raised by the runtime as its own exception types
                if out_of_memory(error):
                    raise MemoryError(str(error)) from error
                raise
            outputs.append(torch.from_numpy(np.asarray(output)))
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]


def _corrupt(detail: str) -> ModelError:
    return ModelError(ErrorCode.CORRUPT_FILE, CORRUPT_ONNX, detail=detail)


def _invalid(problem: str) -> ModelError:
    return ModelError(ErrorCode.INVALID_GRAPH, INVALID_GRAPH.format(problem=problem))


def _unsafe(what: str) -> ModelError:
    return ModelError(ErrorCode.UNSAFE_PROGRAM, UNSAFE_GRAPH.format(what=what))


def _signature(problem: str) -> ModelError:
    message = BAD_ONNX_SIGNATURE.format(problem=problem)
    return ModelError(ErrorCode.BAD_INPUT_SIGNATURE, message)
