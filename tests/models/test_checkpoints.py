"""Checkpoint formats and validation: round trips, inferred configs and named mismatches."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from models import errors
from models.architectures import Inputs
from models.checkpoints import CheckpointFormat, CheckpointLimits
from models.errors import ErrorCode, ModelError
from models.io_range import IORange
from models.loading import CheckpointSpec, load_generator, load_network, validate_checkpoint
from tests.models.checkpoint_files import (
    GENERATOR_CASES,
    METRIC_CASES,
    example_inputs,
    export_program,
    images,
    random_network,
    save_safetensors,
    save_torch,
)

STATE_DICT_FORMATS = ["safetensors", "pth", "pt_nested_state_dict", "pth_nested_model"]


def save_state_dict(state_dict: dict[str, torch.Tensor], folder: Path, file_format: str) -> Path:
    if file_format == "safetensors":
        return save_safetensors(state_dict, folder / "weights.safetensors")
    if file_format == "pth":
        return save_torch(state_dict, folder / "weights.pth")
    if file_format == "pt_nested_state_dict":
        return save_torch(state_dict, folder / "weights.pt", nest="state_dict")
    return save_torch(state_dict, folder / "weights.pth", nest="model")


def expect_error(code: ErrorCode, spec: CheckpointSpec, **limits: int) -> ModelError:
    with pytest.raises(ModelError) as caught:
        validate_checkpoint(spec, CheckpointLimits(**limits))
    assert caught.value.code == code, caught.value.message
    return caught.value


def transformer_state_dict(width: int = 4) -> dict[str, torch.Tensor]:
    return random_network("transformer_net", {"width": width}).state_dict()


@pytest.mark.parametrize("file_format", STATE_DICT_FORMATS)
@pytest.mark.parametrize("case", GENERATOR_CASES)
def test_generator_round_trip_through_state_dict_formats(
    case: str, file_format: str, tmp_path: Path
) -> None:
    architecture, config = GENERATOR_CASES[case]
    original = random_network(architecture, config)
    path = save_state_dict(original.state_dict(), tmp_path, file_format)
    spec = CheckpointSpec(path, architecture)

    info = validate_checkpoint(spec)
    generator = load_generator(spec)

    assert info.config == config
    assert info.param_count == sum(t.numel() for t in original.state_dict().values())
    inputs = example_inputs(architecture)
    with torch.inference_mode():
        assert torch.equal(generator.module(*inputs), original(*inputs))


@pytest.mark.parametrize("case", GENERATOR_CASES)
def test_generator_round_trip_through_exported_programs(
    case: str, program_file: Callable[[str], Path]
) -> None:
    architecture, config = GENERATOR_CASES[case]
    original = random_network(architecture, config)
    spec = CheckpointSpec(program_file(case), architecture)

    info = validate_checkpoint(spec)
    generator = load_generator(spec)

    assert (info.format, info.config) == (CheckpointFormat.EXPORTED, config)
    inputs = example_inputs(architecture, count=3, seed=11)
    with torch.inference_mode():
        assert torch.equal(generator.module(*inputs), original(*inputs))


@pytest.mark.parametrize("file_format", STATE_DICT_FORMATS)
@pytest.mark.parametrize("case", METRIC_CASES)
def test_metric_network_round_trip(case: str, file_format: str, tmp_path: Path) -> None:
    architecture, config = METRIC_CASES[case]
    original = random_network(architecture, config)
    path = save_state_dict(original.state_dict(), tmp_path, file_format)

    network = load_network(CheckpointSpec(path, architecture))

    x = images(2, seed=12)
    with torch.inference_mode():
        if architecture == "vgg19":
            assert torch.equal(network(x, taps=[29])[29], original(x, taps=[29])[29])
        else:
            assert torch.equal(network(x), original(x))


def test_loaded_generator_maps_io_ranges(tmp_path: Path) -> None:
    original = random_network("transformer_net", {"width": 4})
    path = save_safetensors(original.state_dict(), tmp_path / "weights.safetensors")
    generator = load_generator(CheckpointSpec(path, "transformer_net"))
    reference = load_generator(CheckpointSpec(path, "transformer_net"))
    for loaded in (generator, reference):
        loaded.prepare(torch.device("cpu"))
    content = images(2, seed=13)
    with torch.inference_mode():
        output = generator(content)
        expected = reference.module(content.contiguous(memory_format=torch.channels_last) * 255)
    assert output.dtype == torch.float32
    assert output.min() >= 0
    assert output.max() <= 1
    assert torch.equal(output, (expected / 255).clamp(0, 1))


def test_info_describes_the_file(tmp_path: Path) -> None:
    path = save_safetensors(transformer_state_dict(), tmp_path / "weights.safetensors")

    info = validate_checkpoint(CheckpointSpec(path, "transformer_net"))

    assert info.format is CheckpointFormat.SAFETENSORS
    assert info.architecture == "transformer_net"
    assert info.io_range is IORange.BYTE
    assert info.inputs is Inputs.CONTENT
    assert info.size_bytes == path.stat().st_size
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("declared", [IORange.SIGNED, "-1-1"])
def test_declared_io_range_overrides_the_default(declared: str, tmp_path: Path) -> None:
    path = save_safetensors(transformer_state_dict(), tmp_path / "weights.safetensors")
    spec = CheckpointSpec(path, "transformer_net", io_range=declared)
    assert validate_checkpoint(spec).io_range is IORange.SIGNED


def test_declared_config_that_agrees_passes(tmp_path: Path) -> None:
    path = save_safetensors(transformer_state_dict(), tmp_path / "weights.safetensors")
    spec = CheckpointSpec(path, "transformer_net", config={"width": 4})
    assert validate_checkpoint(spec).config == {"width": 4}


def test_declared_config_that_disagrees_is_named(tmp_path: Path) -> None:
    path = save_safetensors(transformer_state_dict(), tmp_path / "weights.safetensors")
    error = expect_error(
        ErrorCode.CONFIG_MISMATCH, CheckpointSpec(path, "transformer_net", config={"width": 32})
    )
    assert error.message == errors.CONFIG_MISMATCH.format(setting="width", declared=32, inferred=4)


def test_declared_setting_the_architecture_lacks_is_named(tmp_path: Path) -> None:
    path = save_safetensors(transformer_state_dict(), tmp_path / "weights.safetensors")
    error = expect_error(
        ErrorCode.CONFIG_MISMATCH, CheckpointSpec(path, "transformer_net", config={"ngf": 4})
    )
    assert error.message == errors.UNKNOWN_SETTING.format(
        setting="ngf", architecture="transformer_net", known="width"
    )


def test_missing_keys_name_the_first_few(tmp_path: Path) -> None:
    state_dict = transformer_state_dict()
    for key in ["res2.in1.weight", "res2.in1.bias", "res3.conv1.conv2d.weight", "in5.bias"]:
        del state_dict[key]
    path = save_safetensors(state_dict, tmp_path / "weights.safetensors")

    error = expect_error(ErrorCode.MISSING_KEYS, CheckpointSpec(path, "transformer_net"))

    assert error.message == errors.MISSING_KEYS.format(
        count=4,
        architecture="transformer_net",
        keys="'res2.in1.weight', 'res2.in1.bias', 'res3.conv1.conv2d.weight'",
    )


def test_unexpected_keys_name_the_first_few(tmp_path: Path) -> None:
    state_dict = {f"module.{key}": value for key, value in transformer_state_dict().items()}
    state_dict["conv1.conv2d.weight"] = state_dict["module.conv1.conv2d.weight"].clone()
    path = save_torch(state_dict, tmp_path / "weights.pth")

    error = expect_error(ErrorCode.MISSING_KEYS, CheckpointSpec(path, "transformer_net"))
    assert error.message.startswith("The checkpoint lacks 61 tensor(s)")

    state_dict.update(transformer_state_dict())
    save_torch(state_dict, path)
    error = expect_error(ErrorCode.UNEXPECTED_KEYS, CheckpointSpec(path, "transformer_net"))
    assert error.message == errors.UNEXPECTED_KEYS.format(
        count=62,
        architecture="transformer_net",
        keys="'module.conv1.conv2d.weight', 'module.conv1.conv2d.bias', 'module.in1.weight'",
    )


def test_shape_mismatch_names_the_tensor_and_both_shapes(tmp_path: Path) -> None:
    state_dict = transformer_state_dict()
    state_dict["res4.conv2.conv2d.weight"] = torch.zeros(16, 16, 5, 5)
    path = save_torch(state_dict, tmp_path / "weights.pth")

    error = expect_error(ErrorCode.SHAPE_MISMATCH, CheckpointSpec(path, "transformer_net"))

    assert error.message == errors.SHAPE_MISMATCH.format(
        key="res4.conv2.conv2d.weight",
        found=[16, 16, 5, 5],
        architecture="transformer_net",
        expected=[16, 16, 3, 3],
    )


def test_integer_weights_are_refused(tmp_path: Path) -> None:
    state_dict = transformer_state_dict()
    state_dict["in2.weight"] = torch.ones(8, dtype=torch.int64)
    path = save_safetensors(state_dict, tmp_path / "weights.safetensors")
    error = expect_error(ErrorCode.DTYPE_MISMATCH, CheckpointSpec(path, "transformer_net"))
    assert error.message == errors.DTYPE_MISMATCH.format(key="in2.weight", found="int64")


def test_half_precision_weights_load_as_float(tmp_path: Path) -> None:
    state_dict = {key: value.half() for key, value in transformer_state_dict().items()}
    path = save_safetensors(state_dict, tmp_path / "weights.safetensors")
    generator = load_generator(CheckpointSpec(path, "transformer_net"))
    assert generator.module.conv1.conv2d.weight.dtype == torch.float32


def test_inference_needs_its_key(tmp_path: Path) -> None:
    state_dict = transformer_state_dict()
    del state_dict["conv1.conv2d.weight"]
    path = save_safetensors(state_dict, tmp_path / "weights.safetensors")
    error = expect_error(ErrorCode.MISSING_KEYS, CheckpointSpec(path, "transformer_net"))
    assert "'conv1.conv2d.weight'" in error.message


def test_legacy_instance_norm_statistics_are_dropped(tmp_path: Path) -> None:
    state_dict = transformer_state_dict()
    state_dict["in1.running_mean"] = torch.zeros(4)
    state_dict["res1.in2.running_var"] = torch.ones(16)
    path = save_torch(state_dict, tmp_path / "weights.pth")
    assert validate_checkpoint(CheckpointSpec(path, "transformer_net")).config == {"width": 4}

    config = {"ngf": 4, "n_blocks": 1, "norm": "instance", "dropout": False}
    state_dict = random_network("resnet_generator", config).state_dict()
    state_dict["model.2.running_mean"] = torch.zeros(4)
    state_dict["model.10.conv_block.2.running_var"] = torch.ones(16)
    path = save_torch(state_dict, tmp_path / "weights.pth")
    assert validate_checkpoint(CheckpointSpec(path, "resnet_generator")).config == config


def test_batch_norm_counters_are_optional(tmp_path: Path) -> None:
    config = {"ngf": 4, "num_downs": 5, "norm": "batch"}
    original = random_network("unet_generator", config)
    state_dict = {
        key: value
        for key, value in original.state_dict().items()
        if not key.endswith("num_batches_tracked")
    }
    path = save_safetensors(state_dict, tmp_path / "weights.safetensors")
    generator = load_generator(CheckpointSpec(path, "unet_generator"))
    x = images(1, seed=14)
    with torch.inference_mode():
        assert torch.equal(generator.module.eval()(x), original(x))


def test_full_vgg_normalised_encoder_loads_for_adain(tmp_path: Path) -> None:
    state_dict = random_network("adain", {"width": 4}).state_dict()
    for index in (32, 35, 38, 42, 45, 48, 51):
        state_dict[f"encoder.{index}.weight"] = torch.zeros(32, 32, 3, 3)
        state_dict[f"encoder.{index}.bias"] = torch.zeros(32)
    path = save_safetensors(state_dict, tmp_path / "adain.safetensors")
    assert validate_checkpoint(CheckpointSpec(path, "adain")).config == {"width": 4}


def test_vgg19_classifier_of_the_published_file_is_ignored(tmp_path: Path) -> None:
    state_dict = random_network("vgg19", {"width": 4}).state_dict()
    state_dict["classifier.0.weight"] = torch.zeros(8, 16)
    state_dict["classifier.6.bias"] = torch.zeros(10)
    path = save_torch(state_dict, tmp_path / "vgg19-dcbb9e9d.pth")
    network = load_network(CheckpointSpec(path, "vgg19"))
    assert not hasattr(network, "classifier")


def test_too_many_parameters_is_checked_before_building(tmp_path: Path) -> None:
    path = save_safetensors(transformer_state_dict(), tmp_path / "weights.safetensors")
    error = expect_error(
        ErrorCode.TOO_MANY_PARAMETERS, CheckpointSpec(path, "transformer_net"), max_params=1000
    )
    assert error.message == errors.TOO_MANY_PARAMETERS.format(count=28_467, limit=1000)


def test_file_too_large_is_checked_before_reading(tmp_path: Path) -> None:
    path = save_safetensors(transformer_state_dict(), tmp_path / "weights.safetensors")
    size = path.stat().st_size
    error = expect_error(
        ErrorCode.FILE_TOO_LARGE, CheckpointSpec(path, "transformer_net"), max_bytes=size - 1
    )
    assert error.message == errors.FILE_TOO_LARGE.format(size=size, limit=size - 1)


def test_unknown_architecture_lists_the_generators(tmp_path: Path) -> None:
    path = save_safetensors(transformer_state_dict(), tmp_path / "weights.safetensors")
    error = expect_error(ErrorCode.UNKNOWN_ARCHITECTURE, CheckpointSpec(path, "stylegan"))
    assert error.message == errors.UNKNOWN_ARCHITECTURE.format(
        name="stylegan",
        known="transformer_net, resnet_generator, unet_generator, adain, exported, onnx",
    )
    with pytest.raises(ModelError) as caught:
        load_generator(CheckpointSpec(path, "vgg19"))
    assert caught.value.code == ErrorCode.UNKNOWN_ARCHITECTURE


def test_a_file_that_is_not_a_state_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save([torch.zeros(3)], path)
    error = expect_error(ErrorCode.UNSUPPORTED_FORMAT, CheckpointSpec(path, "transformer_net"))
    assert error.message == errors.NOT_A_STATE_DICT


def test_exported_programs_need_the_exported_format(tmp_path: Path) -> None:
    path = save_safetensors(transformer_state_dict(), tmp_path / "weights.safetensors")
    error = expect_error(ErrorCode.UNSUPPORTED_FORMAT, CheckpointSpec(path, "exported"))
    assert error.message == errors.EXPORTED_PROGRAM_REQUIRED.format(architecture="exported")


def test_metric_networks_need_a_state_dict(program_file: Callable[[str], Path]) -> None:
    error = expect_error(
        ErrorCode.UNSUPPORTED_FORMAT, CheckpointSpec(program_file("transformer_net"), "vgg19")
    )
    assert error.message == errors.STATE_DICT_REQUIRED.format(architecture="vgg19")


@pytest.mark.parametrize(
    ("case", "inputs"),
    [("transformer_net", Inputs.CONTENT), ("adain", Inputs.CONTENT_STYLE)],
)
def test_exported_architecture_reads_the_signature_off_the_program(
    case: str, inputs: Inputs, program_file: Callable[[str], Path]
) -> None:
    spec = CheckpointSpec(program_file(case), "exported", io_range=IORange.BYTE)
    info = validate_checkpoint(spec)
    assert (info.inputs, info.config, info.io_range) == (inputs, {"inputs": inputs}, IORange.BYTE)

    declared = CheckpointSpec(program_file(case), "exported", config={"inputs": "content"})
    if inputs is Inputs.CONTENT_STYLE:
        expect_error(ErrorCode.CONFIG_MISMATCH, declared)
    else:
        assert validate_checkpoint(declared).inputs is Inputs.CONTENT


def test_an_exported_program_must_match_its_zoo_signature(
    program_file: Callable[[str], Path],
) -> None:
    error = expect_error(
        ErrorCode.MISSING_KEYS, CheckpointSpec(program_file("transformer_net"), "adain")
    )
    assert "'encoder.2.weight'" in error.message


def test_programs_exported_with_fixed_sizes_are_refused(tmp_path: Path) -> None:
    network = random_network("transformer_net", {"width": 4})
    program = torch.export.export(network, (images(2, seed=0),))
    torch.export.save(program, tmp_path / "fixed.pt2")

    error = expect_error(
        ErrorCode.BAD_INPUT_SIGNATURE, CheckpointSpec(tmp_path / "fixed.pt2", "exported")
    )

    assert error.message == errors.BAD_INPUT_SIGNATURE.format(
        expected="one input (content)", problem="input 'x' was exported with fixed sizes"
    )


def test_programs_with_three_inputs_are_refused(tmp_path: Path) -> None:
    class ThreeInputs(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            return a + b + c

    inputs = (images(2, seed=0), images(2, seed=1), images(2, seed=2))
    path = export_program(ThreeInputs(), inputs, tmp_path / "three.pt2")
    error = expect_error(ErrorCode.BAD_INPUT_SIGNATURE, CheckpointSpec(path, "exported"))
    assert error.message.endswith("; it takes 3 inputs.")
