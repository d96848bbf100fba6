"""Hostile and broken checkpoint files: each is refused with its code, and nothing in it runs."""

from __future__ import annotations

import json
import os
import pickle
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from models import errors
from models.checkpoints import CheckpointLimits
from models.errors import ErrorCode, ModelError
from models.loading import CheckpointSpec, load_generator, validate_checkpoint
from tests.models.checkpoint_files import images, random_network, save_safetensors, save_torch


class TouchOnUnpickle:
    """Unpickling this runs `touch` on a path: what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def refused(spec: CheckpointSpec, code: ErrorCode) -> ModelError:
    with pytest.raises(ModelError) as caught:
        validate_checkpoint(spec)
    assert caught.value.code == code, caught.value.message
    return caught.value


def rewrite_archive(source: Path, target: Path, edit: Callable[[dict[str, bytes]], None]) -> Path:
    """Copy a .pt2 archive with `edit` applied to its records (keyed below the root folder)."""
    with zipfile.ZipFile(source) as archive:
        root = archive.namelist()[0].split("/", 1)[0]
        records = {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}
    edit(records)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for name, data in records.items():
            archive.writestr(f"{root}/{name}", data)
    return target


def edit_program(edit: Callable[[dict], None]) -> Callable[[dict[str, bytes]], None]:
    def apply(records: dict[str, bytes]) -> None:
        program = json.loads(records["models/model.json"])
        edit(program)
        records["models/model.json"] = json.dumps(program).encode()

    return apply


def weights(state_dict_width: int = 4) -> dict[str, torch.Tensor]:
    return random_network("transformer_net", {"width": state_dict_width}).state_dict()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy_pickle"])
def test_a_pickle_that_would_create_a_file_never_runs(legacy: bool, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = {**weights(), "extra": TouchOnUnpickle(marker)}
    path = tmp_path / "weights.pth"
    if legacy:
        with path.open("wb") as file:
            pickle.dump(payload, file, protocol=2)
    else:
        torch.save(payload, path)
    assert not marker.exists()

    error = refused(CheckpointSpec(path, "transformer_net"), ErrorCode.UNSUPPORTED_FORMAT)

    assert error.message == errors.PICKLED_OBJECTS
    assert not marker.exists()


def test_a_pickled_whole_model_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "model.pth"
    torch.save(random_network("transformer_net", {"width": 4}), path)
    error = refused(CheckpointSpec(path, "transformer_net"), ErrorCode.UNSUPPORTED_FORMAT)
    assert error.message == errors.PICKLED_OBJECTS


def test_a_tampered_archive_fails_its_checksum(
    program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    data = program_file("transformer_net").read_bytes()
    assert data.count(b"torch.ops.aten.conv2d") > 0
    path = tmp_path / "tampered.pt2"
    path.write_bytes(data.replace(b"torch.ops.aten.conv2d", b"torch.ops.aten.conv3d", 1))

    error = refused(CheckpointSpec(path, "transformer_net"), ErrorCode.CORRUPT_FILE)

    assert error.message == errors.CORRUPT_FILE.format(format="torch.export program")


def test_a_program_calling_a_python_function_is_refused(
    program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    def call_torch_save(program: dict) -> None:
        program["graph_module"]["graph"]["nodes"][0]["target"] = "torch.save"

    path = rewrite_archive(
        program_file("transformer_net"), tmp_path / "save.pt2", edit_program(call_torch_save)
    )
    error = refused(CheckpointSpec(path, "transformer_net"), ErrorCode.UNSAFE_PROGRAM)
    assert error.message == errors.UNSAFE_PROGRAM.format(what="the operator 'torch.save'")


def test_a_program_reading_files_is_refused(
    program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    def call_from_file(program: dict) -> None:
        program["graph_module"]["graph"]["nodes"][0]["target"] = "torch.ops.aten.from_file.default"

    path = rewrite_archive(
        program_file("transformer_net"), tmp_path / "read.pt2", edit_program(call_from_file)
    )
    refused(CheckpointSpec(path, "transformer_net"), ErrorCode.UNSAFE_PROGRAM)


def test_code_in_a_symbolic_shape_never_runs(
    program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"

    def inject(program: dict) -> None:
        values = program["graph_module"]["graph"]["tensor_values"]
        size = next(
            size for value in values.values() for size in value["sizes"] if "as_expr" in size
        )
        size["as_expr"]["expr_str"] = f"__import__('os').system('touch {marker}')"

    path = rewrite_archive(
        program_file("transformer_net"), tmp_path / "expr.pt2", edit_program(inject)
    )

    refused(CheckpointSpec(path, "transformer_net"), ErrorCode.UNSAFE_PROGRAM)
    assert not marker.exists()


def test_code_in_a_tensor_name_never_runs(
    program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    hostile = f'x"), __import__("os").system("touch {marker}"), getattr(self, "y'

    def rename(records: dict[str, bytes]) -> None:
        for config_name in ("data/weights/model_weights_config.json", "models/model.json"):
            records[config_name] = records[config_name].replace(
                b'"conv1.conv2d.weight"', json.dumps(hostile).encode()
            )

    path = rewrite_archive(program_file("transformer_net"), tmp_path / "name.pt2", rename)

    refused(CheckpointSpec(path, "exported"), ErrorCode.UNSAFE_PROGRAM)
    assert not marker.exists()


def test_guard_code_is_never_compiled(program_file: Callable[[str], Path], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    def inject(program: dict) -> None:
        program["guards_code"] = [f"__import__('os').system('touch {marker}') == 0"]

    path = rewrite_archive(
        program_file("transformer_net"), tmp_path / "guard.pt2", edit_program(inject)
    )
    generator = load_generator(CheckpointSpec(path, "transformer_net"))
    with torch.inference_mode():
        generator(images(1, seed=0))
    assert not marker.exists()


def test_pickled_weights_in_an_archive_never_run(
    program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"

    def pickle_first_weight(records: dict[str, bytes]) -> None:
        config = json.loads(records["data/weights/model_weights_config.json"])
        entry = config["config"]["conv1.conv2d.weight"]
        entry["use_pickle"] = True
        records[f"data/weights/{entry['path_name']}"] = pickle.dumps(TouchOnUnpickle(marker))
        records["data/weights/model_weights_config.json"] = json.dumps(config).encode()

    path = rewrite_archive(
        program_file("transformer_net"), tmp_path / "pickled.pt2", pickle_first_weight
    )

    error = refused(CheckpointSpec(path, "transformer_net"), ErrorCode.UNSAFE_PROGRAM)

    assert error.message == errors.UNSAFE_PROGRAM.format(what="pickled tensors")
    assert not marker.exists()


def test_compiled_code_in_an_archive_is_refused(
    program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    def add_library(records: dict[str, bytes]) -> None:
        records["data/aotinductor/model/model.so"] = b"\x7fELF"

    path = rewrite_archive(program_file("transformer_net"), tmp_path / "aoti.pt2", add_library)
    error = refused(CheckpointSpec(path, "transformer_net"), ErrorCode.UNSAFE_PROGRAM)
    assert error.message == errors.UNSAFE_PROGRAM.format(
        what="the unexpected archive record 'data/aotinductor/model/model.so'"
    )


def test_a_safetensors_header_claiming_a_terabyte_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path.write_bytes((10**12).to_bytes(8, "little") + header + b"\0" * 4)

    started = time.perf_counter()
    error = refused(CheckpointSpec(path, "transformer_net"), ErrorCode.CORRUPT_FILE)

    assert time.perf_counter() - started < 1
    assert error.message == errors.CORRUPT_FILE.format(format="safetensors")


def test_a_safetensors_tensor_claiming_a_terabyte_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    entry = {"dtype": "F32", "shape": [250_000, 1_000_000], "data_offsets": [0, 10**12]}
    header = json.dumps({"conv1.conv2d.weight": entry}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 64)

    started = time.perf_counter()
    refused(CheckpointSpec(path, "transformer_net"), ErrorCode.CORRUPT_FILE)

    assert time.perf_counter() - started < 1


def save_each_format(folder: Path, program: Path) -> dict[str, Path]:
    state_dict = weights()
    return {
        "safetensors": save_safetensors(state_dict, folder / "weights.safetensors"),
        "pth": save_torch(state_dict, folder / "weights.pth"),
        "pt2": program,
    }


@pytest.mark.parametrize(
    ("file_format", "format_name"),
    [
        ("safetensors", "safetensors"),
        ("pth", "PyTorch state dict"),
        ("pt2", "torch.export program"),
    ],
)
def test_a_truncated_file_is_corrupt(
    file_format: str, format_name: str, program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    source = save_each_format(tmp_path, program_file("transformer_net"))[file_format]
    data = source.read_bytes()
    for keep in (len(data) // 3, len(data) - 100):
        path = tmp_path / f"truncated{source.suffix}"
        path.write_bytes(data[:keep])
        error = refused(CheckpointSpec(path, "transformer_net"), ErrorCode.CORRUPT_FILE)
        assert error.message == errors.CORRUPT_FILE.format(format=format_name)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(value: float, tmp_path: Path) -> None:
    state_dict = weights()
    state_dict["res3.conv1.conv2d.weight"][0, 0, 1, 1] = value
    path = save_safetensors(state_dict, tmp_path / "weights.safetensors")

    error = refused(CheckpointSpec(path, "transformer_net"), ErrorCode.NON_FINITE_WEIGHTS)

    assert error.message == errors.NON_FINITE_WEIGHTS.format(key="res3.conv1.conv2d.weight")


def test_the_parameter_limit_holds_for_programs(program_file: Callable[[str], Path]) -> None:
    with pytest.raises(ModelError) as caught:
        validate_checkpoint(
            CheckpointSpec(program_file("transformer_net"), "exported"),
            CheckpointLimits(max_params=100),
        )
    assert caught.value.code == ErrorCode.TOO_MANY_PARAMETERS


def test_a_program_document_of_the_wrong_shape_is_corrupt(
    program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    def break_signature(program: dict) -> None:
        program["graph_module"]["signature"] = ["not", "a", "signature"]

    path = rewrite_archive(
        program_file("transformer_net"), tmp_path / "shape.pt2", edit_program(break_signature)
    )
    refused(CheckpointSpec(path, "transformer_net"), ErrorCode.CORRUPT_FILE)
