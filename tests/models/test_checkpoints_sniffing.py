"""Checkpoints are recognised by their bytes, whatever their names; anything else is named."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import io
import pickle
import random
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from models import errors
from models.checkpoints import CheckpointFormat, checkpoint_format
from models.errors import ErrorCode, ModelError
from models.loading import CheckpointSpec, load_generator, validate_checkpoint
from tests.models import onnx_files
from tests.models.checkpoint_files import images, random_network, save_safetensors, save_torch
from tests.models.test_hostile import TouchOnUnpickle

KINDS = {
    "safetensors": CheckpointFormat.SAFETENSORS,
    "zip_torch": CheckpointFormat.TORCH,
    "legacy_torch": CheckpointFormat.TORCH,
    "pt2": CheckpointFormat.EXPORTED,
}
# What participants upload: the names published checkpoints come with.
PUBLISHED_NAMES = ["generator.model", "generator.ckpt", "generator.bin", "generator"]
# Names that claim another format than the bytes hold: the bytes win.
MISLEADING_NAMES = {
    "safetensors": ["generator.pt2", "generator.pth", "generator.onnx"],
    "zip_torch": ["generator.safetensors", "generator.pt2"],
    "legacy_torch": ["generator.safetensors", "generator.pt2"],
    "pt2": ["generator.pt", "generator.safetensors"],
}
NAMED_CASES = [
    (kind, name) for kind in KINDS for name in [*PUBLISHED_NAMES, *MISLEADING_NAMES[kind]]
]
# The published width-8 fast-neural-style checkpoints, legacy torch.save files named .model.
PUBLISHED_MODELS = {
    "candy_nc8_b1_e2_1e05_1e10.model": (
        "5fa695eea565504294b4a00535a092d7cc5dc3097963cbbd47fef0ba4c284df5"
    ),
    "mosaic_nc8_b1_e2_1e05_1e10.model": (
        "3e1a7057b037cf43143d3fb745762c2f7dfd404a96011c9c86448974a9b27f06"
    ),
}


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    return random_network("transformer_net", {"width": 4})


@pytest.fixture(scope="module")
def sources(
    network: torch.nn.Module,
    program_file: Callable[[str], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, bytes]:
    """The same width-4 TransformerNet in each format, as bytes, and a small ONNX graph."""
    folder = tmp_path_factory.mktemp("sources")
    state_dict = network.state_dict()
    legacy = folder / "legacy.pth"
    torch.save(state_dict, legacy, _use_new_zipfile_serialization=False)
    files = {
        "safetensors": save_safetensors(state_dict, folder / "weights.safetensors"),
        "zip_torch": save_torch(state_dict, folder / "weights.pth"),
        "legacy_torch": legacy,
        "pt2": program_file("transformer_net"),
        "onnx": onnx_files.saved(onnx_files.model(), folder / "generator.onnx"),
    }
    return {kind: path.read_bytes() for kind, path in files.items()}


def written(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def refused(path: Path, code: ErrorCode) -> ModelError:
    with pytest.raises(ModelError) as caught:
        validate_checkpoint(CheckpointSpec(path, "transformer_net"))
    assert caught.value.code == code, caught.value.message
    return caught.value


@pytest.mark.parametrize(("kind", "name"), NAMED_CASES)
def test_every_format_is_read_by_its_bytes_whatever_its_name(
    kind: str, name: str, sources: dict[str, bytes], tmp_path: Path
) -> None:
    path = written(tmp_path, name, sources[kind])

    info = validate_checkpoint(CheckpointSpec(path, "transformer_net"))

    assert checkpoint_format(path) is KINDS[kind]
    assert (info.format, info.config) == (KINDS[kind], {"width": 4})
    assert info.sha256 == hashlib.sha256(sources[kind]).hexdigest()


@pytest.mark.parametrize("kind", KINDS)
def test_a_misnamed_checkpoint_loads_the_network_it_holds(
    kind: str, sources: dict[str, bytes], network: torch.nn.Module, tmp_path: Path
) -> None:
    path = written(tmp_path, MISLEADING_NAMES[kind][0], sources[kind])

    generator = load_generator(CheckpointSpec(path, "transformer_net"))

    content = images(1, seed=3)
    with torch.inference_mode():
        assert torch.equal(generator.module(content), network(content))


def test_the_two_torch_formats_are_a_zip_and_a_pickle_stream(sources: dict[str, bytes]) -> None:
    # The published .model files are torch.save's pre-1.6 format: a protocol 2 pickle stream.
    assert sources["zip_torch"].startswith(b"PK\x03\x04")
    assert sources["legacy_torch"].startswith(b"\x80\x02")


@pytest.mark.parametrize(("name", "sha256"), PUBLISHED_MODELS.items())
def test_published_model_files_are_transformer_nets(
    name: str, sha256: str, realworld: Path
) -> None:
    spec = CheckpointSpec(realworld / "checkpoints" / name, "transformer_net")

    info = validate_checkpoint(spec)

    assert (info.format, info.architecture, info.config) == (
        CheckpointFormat.TORCH,
        "transformer_net",
        {"width": 8},
    )
    assert info.sha256 == sha256


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("name", ["generator.model", "generator"])
def test_a_pickle_that_would_run_code_is_refused_and_never_runs(
    protocol: int, name: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    path = written(tmp_path, name, pickle.dumps(TouchOnUnpickle(marker), protocol=protocol))

    error = refused(path, ErrorCode.UNSUPPORTED_FORMAT)

    assert error.message == errors.PICKLED_OBJECTS
    assert not marker.exists()


def test_a_legacy_torch_save_of_an_object_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "generator.ckpt"
    torch.save(TouchOnUnpickle(marker), path, _use_new_zipfile_serialization=False)
    assert not marker.exists()

    error = refused(path, ErrorCode.UNSUPPORTED_FORMAT)

    assert error.message == errors.PICKLED_OBJECTS
    assert not marker.exists()


def test_a_legacy_file_that_is_not_a_state_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "generator.model"
    torch.save([torch.zeros(3)], path, _use_new_zipfile_serialization=False)
    error = refused(path, ErrorCode.UNSUPPORTED_FORMAT)
    assert error.message == errors.NOT_A_STATE_DICT


@pytest.mark.parametrize(
    ("kind", "format_name"),
    [
        ("safetensors", "safetensors"),
        ("zip_torch", "PyTorch state dict"),
        ("legacy_torch", "PyTorch state dict"),
    ],
)
def test_a_truncated_file_under_a_published_name_is_damaged_not_unknown(
    kind: str, format_name: str, sources: dict[str, bytes], tmp_path: Path
) -> None:
    content = sources[kind]
    path = written(tmp_path, "generator.model", content[: len(content) // 2])
    error = refused(path, ErrorCode.CORRUPT_FILE)
    assert error.message == errors.CORRUPT_FILE.format(format=format_name)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buffer, format="JPEG")
    return buffer.getvalue()


def numpy_array() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 2), dtype=np.float32))
    return buffer.getvalue()


def zipped_safetensors() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("weights.safetensors", safetensors.torch.save({"w": torch.zeros(2)}))
    return buffer.getvalue()


def tarred_safetensors() -> bytes:
    content = safetensors.torch.save({"w": torch.zeros(2)})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        member = tarfile.TarInfo("weights.safetensors")
        member.size = len(content)
        archive.addfile(member, io.BytesIO(content))
    return buffer.getvalue()


LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:5fa695eea565504294b4a00535a092d7cc5dc3097963cbbd47fef0ba4c284df5\n"
    "size 446174\n"
)
UNRECOGNISED = {
    "empty": (lambda: b"", errors.FOUND_EMPTY),
    "random_bytes": (lambda: random.Random(0).randbytes(4096), errors.FOUND_BINARY),
    "png": (png, errors.FOUND_IMAGE.format(kind="PNG")),
    "jpeg": (jpeg, errors.FOUND_IMAGE.format(kind="JPEG")),
    "text": (lambda: "epochs: 2\nstyle weight: 1e10 – ok\n".encode(), errors.FOUND_TEXT),
    "web_page": (
        lambda: b"\n<!DOCTYPE html>\n<html><head><title>Sign in</title></head></html>\n",
        errors.FOUND_WEB_PAGE,
    ),
    "lfs_pointer": (LFS_POINTER.encode, errors.FOUND_LFS_POINTER),
    "gzip": (
        lambda: gzip.compress(b"\x80\x02" + bytes(64)),
        errors.FOUND_COMPRESSED.format(kind="gzip"),
    ),
    "bzip2": (
        lambda: bz2.compress(b"\x80\x02" + bytes(64)),
        errors.FOUND_COMPRESSED.format(kind="bzip2"),
    ),
    "tar": (tarred_safetensors, errors.FOUND_COMPRESSED.format(kind="tar")),
    "zip_of_a_checkpoint": (zipped_safetensors, errors.FOUND_ZIP),
    "numpy": (numpy_array, errors.FOUND_NUMPY),
    "hdf5": (lambda: b"\x89HDF\r\n\x1a\n" + bytes(64), errors.FOUND_HDF5),
}


@pytest.mark.parametrize("case", UNRECOGNISED)
def test_a_file_that_is_no_checkpoint_is_named_for_what_it_looks_like(
    case: str, tmp_path: Path
) -> None:
    make, found = UNRECOGNISED[case]
    path = written(tmp_path, "generator.pth", make())

    error = refused(path, ErrorCode.UNSUPPORTED_FORMAT)

    assert error.message == errors.UNRECOGNISED_CONTENT.format(found=found)


@pytest.mark.parametrize("name", ["candy.onnx", "candy.pt", "candy"])
def test_an_onnx_model_is_recognised_whatever_its_name(
    name: str, realworld: Path, tmp_path: Path
) -> None:
    content = (realworld / "onnx" / "candy_nc16_256x256.onnx").read_bytes()
    assert checkpoint_format(written(tmp_path, name, content)) is CheckpointFormat.ONNX


# Beginnings that send a file down each reader's path.
SIGNATURES = [
    b"PK\x03\x04",
    b"\x80\x02",
    b"\x80\x05",
    (40).to_bytes(8, "little") + b"{",
    b"\x89PNG\r\n\x1a\n",
    b"\x08\x07\x12",
]


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_byte_prefix_raises_anything_but_a_model_error(
    data: st.DataObject, sources: dict[str, bytes], tmp_path: Path
) -> None:
    source = data.draw(st.sampled_from([None, *sorted(sources)]), label="source")
    if source is None:
        head = data.draw(st.sampled_from([b"", *SIGNATURES]), label="head")
        content = head + data.draw(st.binary(max_size=2048), label="tail")
    else:
        full = sources[source]
        content = full[: data.draw(st.integers(0, len(full)), label="length")]
    path = written(tmp_path, "upload.model", content)

    for check in (
        lambda: checkpoint_format(path),
        lambda: validate_checkpoint(CheckpointSpec(path, "transformer_net")),
        lambda: validate_checkpoint(CheckpointSpec(path, "onnx")),
    ):
        with contextlib.suppress(ModelError):  # any refusal is fine, nothing else is
            check()
