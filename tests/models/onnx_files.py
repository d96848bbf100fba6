"""Small ONNX models built node by node: a valid generator and each trap the loader must close."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
Dims = Sequence[int | str]


def image(name: str, dims: Dims = ("N", 3, "H", "W"), dtype: int = TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, list(dims))


def weights(name: str, values: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(values.astype(np.float32), name)


def conv_nodes(source: str = "content", target: str = "stylised") -> list[onnx.NodeProto]:
    """A 1×1 convolution from 3 channels to 3 (weights `w`, bias `b`)."""
    return [helper.make_node("Conv", [source, "w", "b"], [target])]


def conv_weights(seed: int = 0) -> list[TensorProto]:
    generator = np.random.default_rng(seed)
    return [
        weights("w", generator.normal(0, 0.3, (3, 3, 1, 1)) + np.eye(3).reshape(3, 3, 1, 1)),
        weights("b", generator.normal(0, 0.1, (3,))),
    ]


def model(
    nodes: Sequence[onnx.NodeProto] | None = None,
    *,
    initializers: Sequence[TensorProto] | None = None,
    inputs: Sequence[onnx.ValueInfoProto] | None = None,
    outputs: Sequence[onnx.ValueInfoProto] | None = None,
    opset: int = OPSET,
    domains: Sequence[tuple[str, int]] = (),
    functions: Sequence[onnx.FunctionProto] = (),
) -> onnx.ModelProto:
    """A model of these nodes; by default the 1×1 convolution generator."""
    graph = helper.make_graph(
        list(conv_nodes() if nodes is None else nodes),
        "generator",
        list(inputs or [image("content")]),
        list(outputs or [image("stylised")]),
        initializer=list(conv_weights() if initializers is None else initializers),
    )
    imports = [helper.make_opsetid("", opset)]
    imports += [helper.make_opsetid(domain, version) for domain, version in domains]
    built = helper.make_model(graph, opset_imports=imports, functions=list(functions))
    built.ir_version = IR_VERSION
    return built


def saved(built: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(built.SerializeToString())
    return path


def external(tensor: TensorProto, location: str) -> TensorProto:
    """The tensor with its data moved to a file at `location` (as the format allows)."""
    moved = TensorProto()
    moved.CopyFrom(tensor)
    moved.ClearField("raw_data")
    moved.ClearField("float_data")
    moved.data_location = TensorProto.EXTERNAL
    entry = moved.external_data.add()
    entry.key, entry.value = "location", location
    return moved
