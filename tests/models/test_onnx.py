"""ONNX uploads: real exports accepted and run as the state dict runs, and every trap of the
format refused at upload or stopped at run time with its code, the caller unharmed."""

from __future__ import annotations

import multiprocessing
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper

from models import errors
from models.checkpoints import CheckpointFormat, CheckpointLimits
from models.errors import ErrorCode, ModelError
from models.loading import CheckpointSpec, load_generator, validate_checkpoint
from models.onnx_graph import MAX_OPSET, OnnxLimits
from models.runner import RunLimits, RunStats, ValidationLimits, run_generator, validate_in_child
from tests.models.checkpoint_files import images
from tests.models.onnx_files import (
    conv_nodes,
    conv_weights,
    external,
    image,
    model,
    saved,
    weights,
)

VALIDATION = ValidationLimits(time_limit_s=60, memory_limit_bytes=1 << 30)
RUN = RunLimits(time_limit_s=60, memory_limit_bytes=1 << 30)


def spec(path: Path, **kwargs) -> CheckpointSpec:  # type: ignore[no-untyped-def]
    return CheckpointSpec(path, "onnx", **kwargs)


def refused(path: Path, code: ErrorCode, limits: ValidationLimits = VALIDATION) -> ModelError:
    """Refused at upload, by the validation child, with `code`."""
    with pytest.raises(ModelError) as caught:
        validate_in_child(spec(path), limits)
    assert caught.value.code == code, caught.value.message
    return caught.value


def failed_run(path: Path, code: ErrorCode, limits: RunLimits = RUN) -> ModelError:
    """Accepted at upload, then stopped by the runner with `code`, leaving no child behind."""
    validate_in_child(spec(path), VALIDATION)
    outputs = []
    with pytest.raises(ModelError) as caught:
        outputs.extend(run_generator(spec(path), [images(2, seed=0, size=32)], limits=limits))
    assert caught.value.code == code, caught.value.message
    assert outputs == []
    assert multiprocessing.active_children() == []
    return caught.value


# --- what is accepted -------------------------------------------------------------------------


def test_a_dynamic_graph_runs_in_the_sandbox_as_in_process(tmp_path: Path) -> None:
    path = saved(model(), tmp_path / "generator.onnx")
    content = [images(2, seed=1, size=32), images(3, seed=2, size=32)]

    info = validate_in_child(spec(path), VALIDATION)
    stats = RunStats()
    outputs = list(run_generator(spec(path), content, limits=RUN, stats=stats))

    assert (info.format, info.architecture, info.param_count) == (CheckpointFormat.ONNX, "onnx", 12)
    assert info.config == {"inputs": "content", "batch": None, "size": None, "opset": 17}
    assert str(info.io_range) == "0-255"
    generator = load_generator(spec(path))
    generator.prepare(torch.device("cpu"))
    with torch.inference_mode():
        expected = [generator(batch) for batch in content]
    assert [output.shape for output in outputs] == [(2, 3, 32, 32), (3, 3, 32, 32)]
    for output, wanted in zip(outputs, expected, strict=True):
        assert torch.equal(output, wanted)
    assert stats.images == 5


def test_a_graph_exported_for_one_image_is_fed_one_at_a_time(tmp_path: Path) -> None:
    fixed = model(
        inputs=[image("content", (1, 3, 32, 32))], outputs=[image("stylised", (1, 3, 32, 32))]
    )
    path = saved(fixed, tmp_path / "fixed.onnx")

    info = validate_in_child(spec(path), VALIDATION)
    (output,) = run_generator(spec(path), [images(3, seed=3, size=32)], limits=RUN)

    assert (info.config["batch"], info.config["size"]) == (1, [32, 32])
    assert output.shape == (3, 3, 32, 32)


def test_the_declared_range_is_honoured(tmp_path: Path) -> None:
    identity = model([helper.make_node("Identity", ["content"], ["stylised"])], initializers=[])
    path = saved(identity, tmp_path / "identity.onnx")
    content = images(2, seed=4, size=16)

    (as_bytes,) = run_generator(spec(path), [content], limits=RUN)
    (as_unit,) = run_generator(spec(path, io_range="0-1"), [content], limits=RUN)

    assert torch.allclose(as_bytes, content, atol=1e-6)
    assert torch.allclose(as_unit, content, atol=1e-6)


def test_a_content_and_style_graph_takes_both_inputs(tmp_path: Path) -> None:
    nodes = [helper.make_node("Add", ["content", "style"], ["stylised"])]
    both = model(nodes, initializers=[], inputs=[image("content"), image("style")])
    path = saved(both, tmp_path / "both.onnx")
    content, style = images(2, seed=5, size=16), images(2, seed=6, size=16)

    info = validate_in_child(spec(path, io_range="0-1"), VALIDATION)
    (output,) = run_generator(spec(path, io_range="0-1"), [content], [style], limits=RUN)

    assert str(info.inputs) == "content_style"
    assert torch.allclose(output, (content + style).clamp(0, 1), atol=1e-6)


def test_an_onnx_file_named_for_the_zoo_says_which_architecture_it_needs(tmp_path: Path) -> None:
    path = saved(model(), tmp_path / "generator.pth")
    with pytest.raises(ModelError) as caught:
        validate_in_child(CheckpointSpec(path, "transformer_net"), VALIDATION)
    assert caught.value.code == ErrorCode.UNSUPPORTED_FORMAT
    assert caught.value.message == errors.ONNX_ARCHITECTURE.format(architecture="transformer_net")


def test_the_onnx_architecture_needs_an_onnx_file(tmp_path: Path) -> None:
    network = torch.nn.Conv2d(3, 3, 1)
    path = tmp_path / "weights.pt"
    torch.save(network.state_dict(), path)
    error = refused(path, ErrorCode.UNSUPPORTED_FORMAT)
    assert error.message == errors.ONNX_REQUIRED.format(architecture="onnx")


def test_a_graph_exported_by_torch_onnx_export_is_accepted(tmp_path: Path) -> None:
    """What the starter kit tells participants to run, with dynamic batch and sides."""
    pytest.importorskip("onnxscript")
    network = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect"),
        torch.nn.InstanceNorm2d(8, affine=True),
        torch.nn.ReLU(),
        torch.nn.Upsample(scale_factor=2),
        torch.nn.Conv2d(8, 3, 3, stride=2, padding=1),
    ).eval()
    path = tmp_path / "exported.onnx"
    dynamic = torch.export.Dim.DYNAMIC
    torch.onnx.export(
        network,
        (torch.rand(1, 3, 32, 32),),
        path,
        input_names=["content"],
        output_names=["stylised"],
        dynamic_shapes=({0: dynamic, 2: dynamic, 3: dynamic},),
        external_data=False,
    )
    content = images(2, seed=7, size=48)

    info = validate_in_child(spec(path, io_range="0-1"), VALIDATION)
    (output,) = run_generator(spec(path, io_range="0-1"), [content], limits=RUN)

    assert info.config["size"] is None
    with torch.inference_mode():
        expected = network(content).clamp(0, 1)
    assert torch.allclose(output, expected, atol=1e-4)


# --- refused at upload ------------------------------------------------------------------------


@pytest.mark.parametrize("location", ["../../../../etc/passwd", "/etc/shadow", "weights.bin"])
def test_external_initializer_data_is_refused_before_any_file_is_opened(
    location: str, tmp_path: Path
) -> None:
    # A FIFO at the named place: opening it for reading would block until the time limit.
    (tmp_path / "weights.bin").unlink(missing_ok=True)
    os.mkfifo(tmp_path / "weights.bin")
    weight, bias = conv_weights()
    hostile = model(initializers=[external(weight, location), bias])
    path = saved(hostile, tmp_path / "external.onnx")

    started = time.monotonic()
    error = refused(path, ErrorCode.UNSAFE_PROGRAM, ValidationLimits(time_limit_s=10))

    assert time.monotonic() - started < 5
    assert error.message == errors.UNSAFE_GRAPH.format(
        what="external data for the tensor 'w' (another file)"
    )


def test_external_data_in_a_constant_is_refused(tmp_path: Path) -> None:
    value = external(weights("bias", np.ones(3)), "../secret.bin")
    nodes = [
        helper.make_node("Constant", [], ["bias"], value=value),
        helper.make_node("Conv", ["content", "w", "bias"], ["stylised"]),
    ]
    path = saved(model(nodes, initializers=conv_weights()[:1]), tmp_path / "constant.onnx")
    refused(path, ErrorCode.UNSAFE_PROGRAM)


@pytest.mark.parametrize(
    ("domain", "op_type"),
    [("com.microsoft", "FusedConv"), ("com.microsoft", "EPContext"), ("evil.ops", "Run")],
)
def test_operators_outside_the_default_domain_are_refused(
    domain: str, op_type: str, tmp_path: Path
) -> None:
    nodes = [helper.make_node(op_type, ["content", "w", "b"], ["stylised"], domain=domain)]
    path = saved(model(nodes, domains=[(domain, 1)]), tmp_path / "custom.onnx")
    error = refused(path, ErrorCode.UNSAFE_PROGRAM)
    assert domain in error.message


def test_an_epcontext_node_in_the_default_domain_is_refused(tmp_path: Path) -> None:
    nodes = [
        helper.make_node(
            "EPContext", ["content"], ["stylised"], ep_cache_context="../../cache.bin", embed_mode=0
        )
    ]
    path = saved(model(nodes, initializers=[]), tmp_path / "epcontext.onnx")
    error = refused(path, ErrorCode.UNSAFE_PROGRAM)
    assert "EPContext" in error.message


def test_a_model_local_function_is_refused(tmp_path: Path) -> None:
    function = helper.make_function(
        "local",
        "Hidden",
        ["x"],
        ["y"],
        [helper.make_node("Identity", ["x"], ["y"])],
        [helper.make_opsetid("", 17)],
    )
    nodes = [helper.make_node("Hidden", ["content"], ["stylised"], domain="local")]
    hostile = model(nodes, initializers=[], domains=[("local", 1)], functions=[function])
    error = refused(saved(hostile, tmp_path / "function.onnx"), ErrorCode.UNSAFE_PROGRAM)
    assert "function" in error.message


def test_a_custom_operator_hidden_in_a_subgraph_is_refused(tmp_path: Path) -> None:
    hidden = helper.make_graph(
        [helper.make_node("Run", ["content"], ["branch"], domain="evil.ops")],
        "then",
        [],
        [image("branch")],
    )
    plain = helper.make_graph(
        [helper.make_node("Identity", ["content"], ["other"])], "else", [], [image("other")]
    )
    nodes = [
        helper.make_node("Constant", [], ["flag"], value=helper.make_tensor("f", 9, [], [True])),
        helper.make_node("If", ["flag"], ["stylised"], then_branch=hidden, else_branch=plain),
    ]
    hostile = model(nodes, initializers=[], domains=[("evil.ops", 1)])
    error = refused(saved(hostile, tmp_path / "subgraph.onnx"), ErrorCode.UNSAFE_PROGRAM)
    assert "evil.ops" in error.message


def test_graphs_with_too_many_nodes_or_initializers_are_too_complex(tmp_path: Path) -> None:
    chain = [
        helper.make_node("Identity", [f"v{index}"], [f"v{index + 1}"]) for index in range(10_001)
    ]
    chain[0].input[0], chain[-1].output[0] = "content", "stylised"
    path = saved(model(chain, initializers=[]), tmp_path / "long.onnx")
    constants = [weights(f"c{index}", np.zeros(1)) for index in range(40)]
    many = saved(model(initializers=[*conv_weights(), *constants]), tmp_path / "many.onnx")
    limits = CheckpointLimits(onnx=OnnxLimits(max_initializers=32))

    error = refused(path, ErrorCode.TOO_COMPLEX)
    with pytest.raises(ModelError) as caught:
        validate_in_child(spec(many), ValidationLimits(checkpoint=limits))

    assert "10,000" in error.message
    assert caught.value.code == ErrorCode.TOO_COMPLEX


def test_a_huge_initializer_is_refused_by_its_shape_before_its_data(tmp_path: Path) -> None:
    huge = TensorProto(name="huge", data_type=TensorProto.FLOAT, dims=[1 << 40])
    path = saved(model(initializers=[*conv_weights(), huge]), tmp_path / "huge.onnx")
    error = refused(path, ErrorCode.TOO_MANY_PARAMETERS)
    assert error.message == errors.TOO_MANY_PARAMETERS.format(
        count=(1 << 40) + 12, limit=CheckpointLimits().max_params
    )


def test_an_initializer_with_less_data_than_its_shape_is_damaged(tmp_path: Path) -> None:
    short = TensorProto(name="short", data_type=TensorProto.FLOAT, dims=[1000], raw_data=b"\0" * 8)
    path = saved(model(initializers=[*conv_weights(), short]), tmp_path / "short.onnx")
    refused(path, ErrorCode.CORRUPT_FILE)


def test_non_finite_weights_are_refused(tmp_path: Path) -> None:
    weight, _ = conv_weights()
    path = saved(
        model(initializers=[weight, weights("b", np.array([0, np.nan, 0]))]), tmp_path / "n.onnx"
    )
    error = refused(path, ErrorCode.NON_FINITE_WEIGHTS)
    assert error.message == errors.NON_FINITE_WEIGHTS.format(key="b")


@pytest.mark.parametrize("opset", [6, MAX_OPSET + 1])
def test_an_opset_outside_the_supported_range_is_refused(opset: int, tmp_path: Path) -> None:
    path = saved(model(opset=opset), tmp_path / "opset.onnx")
    error = refused(path, ErrorCode.INVALID_GRAPH)
    assert f"opset {opset}" in error.message


def test_a_malformed_graph_is_refused_with_the_checkers_reason(tmp_path: Path) -> None:
    nodes = [helper.make_node("Conv", ["content", "missing", "b"], ["stylised"])]
    path = saved(model(nodes, initializers=conv_weights()[1:]), tmp_path / "dangling.onnx")
    error = refused(path, ErrorCode.INVALID_GRAPH)
    assert "missing" in error.message


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        ([image("a"), image("b"), image("c")], "it takes 3 inputs"),
        ([image("content", dtype=TensorProto.INT64)], "is not a float tensor"),
        ([image("content", ("N", 3, "H"))], "is not N×3×H×W"),
        ([image("content", ("N", 1, "H", "W"))], "is not N×3×H×W"),
        ([image("content", (4, 3, "H", "W"))], "batch size is fixed at 4"),
        ([image("content", ("N", 3, 32, "W"))], "fixes one side"),
    ],
)
def test_inputs_that_are_not_images_are_refused(inputs: list, problem: str, tmp_path: Path) -> None:
    nodes = [helper.make_node("Identity", [inputs[0].name], ["stylised"])]
    path = saved(model(nodes, initializers=[], inputs=inputs), tmp_path / "inputs.onnx")
    error = refused(path, ErrorCode.BAD_INPUT_SIGNATURE)
    assert problem in error.message


def test_a_graph_with_two_outputs_is_refused(tmp_path: Path) -> None:
    nodes = [*conv_nodes(), helper.make_node("Identity", ["content"], ["extra"])]
    hostile = model(nodes, outputs=[image("stylised"), image("extra")])
    error = refused(saved(hostile, tmp_path / "two.onnx"), ErrorCode.BAD_INPUT_SIGNATURE)
    assert "2 outputs" in error.message


def test_truncated_and_foreign_files_are_refused(realworld: Path, tmp_path: Path) -> None:
    data = (realworld / "onnx" / "mosaic_nc8_256x256.onnx").read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    # Another protobuf message that starts like a model: a TensorProto (dims 7, then a name).
    foreign = tmp_path / "tensor.onnx"
    foreign.write_bytes(TensorProto(dims=[7], name="x").SerializeToString())
    renamed = tmp_path / "archive.onnx"
    with zipfile.ZipFile(renamed, "w") as archive:
        archive.writestr("model.onnx", data)

    assert refused(truncated, ErrorCode.CORRUPT_FILE).message == errors.CORRUPT_ONNX
    assert refused(foreign, ErrorCode.CORRUPT_FILE).message == errors.CORRUPT_ONNX
    error = refused(renamed, ErrorCode.UNSUPPORTED_FORMAT)
    assert error.message == errors.UNRECOGNISED_CONTENT.format(found=errors.FOUND_ZIP)


def test_a_graph_the_runtime_cannot_build_is_refused_at_upload(tmp_path: Path) -> None:
    # Valid for the checker (types are not inferred there), but Conv has no int64 kernel.
    nodes = [
        helper.make_node("Cast", ["content"], ["whole"], to=TensorProto.INT64),
        helper.make_node("Conv", ["whole", "wi"], ["conv"]),
        helper.make_node("Cast", ["conv"], ["stylised"], to=TensorProto.FLOAT),
    ]
    integer = helper.make_tensor("wi", TensorProto.INT64, [3, 3, 1, 1], [1] * 9)
    path = saved(model(nodes, initializers=[integer]), tmp_path / "int.onnx")
    refused(path, ErrorCode.INVALID_GRAPH)


# --- stopped at run time ----------------------------------------------------------------------


def test_a_graph_returning_the_wrong_shape_is_stopped(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("MaxPool", ["content"], ["stylised"], kernel_shape=[2, 2], strides=[2, 2])
    ]
    path = saved(
        model(nodes, initializers=[], outputs=[image("stylised", ("N", 3, "h", "w"))]),
        tmp_path / "half.onnx",
    )
    error = failed_run(path, ErrorCode.BAD_OUTPUT_SHAPE)
    assert error.message == errors.BAD_OUTPUT_SHAPE.format(
        found=[2, 3, 16, 16], expected=[2, 3, 32, 32]
    )


def test_a_graph_returning_nan_is_stopped(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Abs", ["content"], ["magnitude"]),
        helper.make_node("Add", ["magnitude", "one"], ["positive"]),
        helper.make_node("Neg", ["positive"], ["negative"]),
        helper.make_node("Sqrt", ["negative"], ["stylised"]),
    ]
    path = saved(model(nodes, initializers=[weights("one", np.ones(1))]), tmp_path / "nan.onnx")
    failed_run(path, ErrorCode.NON_FINITE_OUTPUT)


def test_a_graph_that_never_ends_is_stopped_at_the_time_limit(tmp_path: Path) -> None:
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["condition"], ["again"]),
            helper.make_node("Add", ["value", "zero"], ["next"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("step", TensorProto.INT64, []),
            helper.make_tensor_value_info("condition", TensorProto.BOOL, []),
            image("value"),
        ],
        [helper.make_tensor_value_info("again", TensorProto.BOOL, []), image("next")],
    )
    nodes = [helper.make_node("Loop", ["trips", "start", "content"], ["stylised"], body=body)]
    initializers = [
        helper.make_tensor("trips", TensorProto.INT64, [], [1 << 62]),
        helper.make_tensor("start", TensorProto.BOOL, [], [True]),
        weights("zero", np.zeros(1)),
    ]
    path = saved(model(nodes, initializers=initializers), tmp_path / "forever.onnx")

    started = time.monotonic()
    error = failed_run(path, ErrorCode.TIME_LIMIT, RunLimits(time_limit_s=3))

    assert time.monotonic() - started < 3 + 10
    assert error.message == errors.TIME_LIMIT.format(limit="3")


def test_a_graph_allocating_past_the_memory_limit_is_stopped(tmp_path: Path) -> None:
    # The size follows the input's, so nothing can be folded ahead of the run: 2×3×32×32
    # images ask for 2×3×5,120×5,120 floats (630 MB) against a limit of 256 MiB.
    nodes = [
        helper.make_node("Shape", ["content"], ["shape"]),
        helper.make_node("Mul", ["shape", "factor"], ["huge"]),
        helper.make_node("ConstantOfShape", ["huge"], ["filled"]),
        helper.make_node("ReduceMax", ["filled"], ["peak"], keepdims=1),
        helper.make_node("Add", ["content", "peak"], ["stylised"]),
    ]
    factor = helper.make_tensor("factor", TensorProto.INT64, [4], [1, 1, 160, 160])
    path = saved(model(nodes, initializers=[factor]), tmp_path / "hog.onnx")

    error = failed_run(path, ErrorCode.MEMORY_LIMIT, RunLimits(memory_limit_bytes=256 << 20))

    assert error.message == errors.MEMORY_LIMIT.format(limit=256)


def test_the_runtime_writes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No profile, no optimised model, nothing beside the model: the session's directory stays
    as it was after building and running."""
    path = saved(model(), tmp_path / "generator.onnx")
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    generator = load_generator(spec(path))
    generator.prepare(torch.device("cpu"))
    with torch.inference_mode():
        generator(images(1, seed=8, size=16))

    assert sorted(os.listdir(workdir)) == []
    assert sorted(os.listdir(tmp_path)) == ["cwd", "generator.onnx"]


# --- the published exports --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("onnx_file", "state_dict"),
    [
        ("candy_nc16_256x256.onnx", "candy_transformernet_w16.pth"),
        ("mosaic_nc8_256x256.onnx", "mosaic_nc8_b1_e2_1e05_1e10.model"),
    ],
)
def test_the_published_exports_match_their_state_dicts(
    onnx_file: str, state_dict: str, realworld: Path
) -> None:
    content = [images(2, seed=9, size=256)]
    info = validate_checkpoint(spec(realworld / "onnx" / onnx_file))
    (from_graph,) = run_generator(spec(realworld / "onnx" / onnx_file), content, limits=RUN)
    zoo = CheckpointSpec(realworld / "checkpoints" / state_dict, "transformer_net")
    (from_weights,) = run_generator(zoo, content, limits=RUN)

    assert info.config == {"inputs": "content", "batch": 1, "size": [256, 256], "opset": 9}
    assert (from_graph - from_weights).abs().max() < 1e-3
