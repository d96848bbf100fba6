"""Validating a checkpoint reads it in chunks: memory stays small whatever the file's size."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import pytest
import torch

from models import errors
from models.errors import ErrorCode, ModelError
from models.loading import CheckpointSpec, load_generator, validate_checkpoint
from models.zoo.transformer_net import TransformerNet
from tests.models.checkpoint_files import save_safetensors, save_torch

# Width 64: 6.7 M parameters, a 27 MB file, far above what validation may hold at once.
WIDE = 64
HELD_AT_ONCE = 8_000_000


@pytest.fixture(scope="module")
def wide_state_dict() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return TransformerNet(WIDE).state_dict()


def save(state_dict: dict[str, torch.Tensor], folder: Path, file_format: str) -> Path:
    if file_format == "safetensors":
        return save_safetensors(state_dict, folder / "wide.safetensors")
    return save_torch(state_dict, folder / "wide.pth")


@pytest.mark.parametrize("file_format", ["safetensors", "pth"])
def test_validation_never_holds_the_file_in_memory(
    file_format: str, wide_state_dict: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    path = save(wide_state_dict, tmp_path, file_format)
    assert path.stat().st_size > 3 * HELD_AT_ONCE

    tracemalloc.start()
    try:
        info = validate_checkpoint(CheckpointSpec(path, "transformer_net"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < HELD_AT_ONCE, f"validation held {peak} bytes at once"
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.size_bytes == path.stat().st_size
    assert info.param_count == sum(tensor.numel() for tensor in wide_state_dict.values())
    assert info.config == {"width": WIDE}


@pytest.mark.parametrize("file_format", ["safetensors", "pth"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_a_nan_in_the_last_chunk_of_a_large_tensor_is_found(
    file_format: str, dtype: torch.dtype, wide_state_dict: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    key = "res5.conv2.conv2d.weight"  # 256×256×3×3: several chunks of the check
    state_dict = {name: tensor.to(dtype, copy=True) for name, tensor in wide_state_dict.items()}
    state_dict[key].view(-1)[-1] = float("nan")
    path = save(state_dict, tmp_path, file_format)

    with pytest.raises(ModelError) as caught:
        validate_checkpoint(CheckpointSpec(path, "transformer_net"))

    assert caught.value.code == ErrorCode.NON_FINITE_WEIGHTS
    assert caught.value.message == errors.NON_FINITE_WEIGHTS.format(key=key)


@pytest.mark.parametrize("file_format", ["safetensors", "pth"])
def test_loading_still_gives_the_weights(
    file_format: str, wide_state_dict: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    path = save(wide_state_dict, tmp_path, file_format)

    generator = load_generator(CheckpointSpec(path, "transformer_net"))

    loaded = generator.module.state_dict()
    assert all(torch.equal(loaded[name], tensor) for name, tensor in wide_state_dict.items())
    assert generator.info == validate_checkpoint(CheckpointSpec(path, "transformer_net"))


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux's resident-set accounting"
)
def test_a_memory_mapped_pth_never_becomes_resident_all_at_once(tmp_path: Path) -> None:
    """tracemalloc cannot see the pages of a memory-mapped file; the kernel's high-water mark
    of this process's resident set can. Checked pages are handed back as validation goes."""
    torch.manual_seed(0)
    path = save_torch(TransformerNet(128).state_dict(), tmp_path / "wide.pth")
    size_kb = path.stat().st_size // 1024
    assert size_kb > 100_000

    Path("/proc/self/clear_refs").write_text("5")  # the high-water mark restarts from now
    before = _status_kb("VmRSS")
    validate_checkpoint(CheckpointSpec(path, "transformer_net"))
    grown = _status_kb("VmHWM") - before

    assert grown < size_kb // 4, f"resident set grew by {grown} kB for a {size_kb} kB file"
