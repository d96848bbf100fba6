"""The judge: deterministic training, safetensors round trip, validation of uploaded judges."""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch
import torch

from models.zoo.patch_discriminator import PatchDiscriminator
from scoring.engine import ErrorCode, Judge, JudgeSettings, ScoringError, judge_train
from scoring.engine import judge as judge_module
from scoring.engine.errors import (
    JUDGE_BAD_VALUES,
    JUDGE_MISSING_KEYS,
    JUDGE_NOT_PATCHGAN,
    JUDGE_NOT_SAFETENSORS,
    JUDGE_SHAPE_MISMATCH,
    JUDGE_TOO_LARGE,
    JUDGE_TRAINING_CROP,
    JUDGE_TRAINING_LOSS,
    JUDGE_UNEXPECTED_KEYS,
    JUDGE_UNREADABLE,
)
from scoring.engine.judge import judge_bytes
from tests.scoring.engine.helpers import smooth_images, stripes

TINY_SETTINGS = JudgeSettings(steps=20, width=4, n_layers=2, crop=16, batch_size=4)


def _state(**changes: torch.Tensor | None) -> dict[str, torch.Tensor]:
    state = PatchDiscriminator(4, 2).state_dict()
    for key, value in changes.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    return state


def _refusal(state: dict[str, torch.Tensor]) -> ScoringError:
    with pytest.raises(ScoringError) as caught:
        Judge.from_bytes(safetensors.torch.save(state))
    assert caught.value.code == ErrorCode.INVALID_JUDGE
    return caught.value


def test_training_is_deterministic(
    content: torch.Tensor, style: torch.Tensor, tiny_judge: Judge, other_judge: Judge
) -> None:
    again = judge_train(style, content, TINY_SETTINGS).judge
    assert again.sha256 == tiny_judge.sha256
    assert again.data == tiny_judge.data
    assert other_judge.sha256 != tiny_judge.sha256


def test_training_reports_its_curve_and_held_out_accuracy(
    content: torch.Tensor, style: torch.Tensor
) -> None:
    steps: list[tuple[int, int]] = []
    result = judge_train(
        style[:1],
        content,
        JudgeSettings(steps=5, width=4, n_layers=2, crop=16, batch_size=2, loss="bce"),
        progress=lambda step, total, loss: steps.append((step, total)),
    )
    assert steps == [(step, 5) for step in range(1, 6)]
    assert len(result.losses) == 5
    # One style image: its bottom 16-pixel band, two tiles. Six photos: the last one, four tiles.
    assert result.heldout_tiles == 2 + 4
    assert result.heldout_accuracy == pytest.approx(
        (result.heldout_style_accuracy + result.heldout_content_accuracy) / 2
    )
    summary = result.summary()
    assert summary["sha256"] == result.judge.sha256
    assert summary["config"] == {"width": 4, "n_layers": 2, "norm": "instance"}
    assert summary["settings"]["loss"] == "bce"


def test_unknown_loss_is_refused(content: torch.Tensor, style: torch.Tensor) -> None:
    with pytest.raises(ScoringError) as caught:
        judge_train(style, content, JudgeSettings(loss="wasserstein"))
    assert caught.value.code == ErrorCode.JUDGE_TRAINING_DATA
    assert caught.value.message == JUDGE_TRAINING_LOSS.format(
        loss="wasserstein", known="hinge, bce"
    )


def test_crop_must_leave_room_for_a_held_out_band(content: torch.Tensor) -> None:
    with pytest.raises(ScoringError) as caught:
        judge_train(stripes(1, 32), content, JudgeSettings(crop=24))
    assert caught.value.message == JUDGE_TRAINING_CROP.format(crop=24, resolution=32)


def test_judge_file_round_trip(tmp_path: Path, tiny_judge: Judge) -> None:
    path = tmp_path / "judge.safetensors"
    tiny_judge.save(path)
    loaded = Judge.load(path)
    assert loaded.sha256 == tiny_judge.sha256
    images = smooth_images(2, 32)
    expected_probabilities, expected_rows = tiny_judge.evaluate(images)
    probabilities, rows = loaded.evaluate(images)
    assert torch.equal(probabilities, expected_probabilities)
    assert torch.equal(rows, expected_rows)
    assert probabilities.dtype == torch.float64
    assert rows.shape[1] == 4 * 4


def test_uploaded_pix2pix_judge_with_batch_norm_is_accepted() -> None:
    module = PatchDiscriminator(8, 3, norm="batch")
    judge = Judge.from_bytes(judge_bytes(module))
    assert judge.config == {"width": 8, "n_layers": 3, "norm": "batch"}


def test_judge_must_be_a_safetensors_file(tmp_path: Path) -> None:
    path = tmp_path / "judge.pth"
    torch.save(_state(), path)
    with pytest.raises(ScoringError) as caught:
        Judge.load(path)
    assert caught.value.message == JUDGE_NOT_SAFETENSORS


def test_damaged_judge_file_is_refused() -> None:
    with pytest.raises(ScoringError) as caught:
        Judge.from_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    assert caught.value.message == JUDGE_UNREADABLE


def test_oversized_judge_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(judge_module, "MAX_JUDGE_BYTES", 100)
    data = safetensors.torch.save(_state())
    with pytest.raises(ScoringError) as caught:
        Judge.from_bytes(data)
    assert caught.value.message == JUDGE_TOO_LARGE.format(size=len(data), limit=100)


def test_judge_with_missing_tensors_is_refused() -> None:
    error = _refusal(_state(**{"model.0.bias": None}))
    problem = JUDGE_MISSING_KEYS.format(count=1, keys="'model.0.bias'")
    assert error.message == JUDGE_NOT_PATCHGAN.format(problem=problem)


def test_judge_with_unknown_tensors_is_refused() -> None:
    error = _refusal(_state(**{"head.scale": torch.ones(1)}))
    problem = JUDGE_UNEXPECTED_KEYS.format(count=1, keys="'head.scale'")
    assert error.message == JUDGE_NOT_PATCHGAN.format(problem=problem)


def test_judge_with_a_wrong_shape_is_refused() -> None:
    error = _refusal(_state(**{"model.2.weight": torch.zeros(8, 5, 4, 4)}))
    problem = JUDGE_SHAPE_MISMATCH.format(
        key="model.2.weight", found=[8, 5, 4, 4], expected=[8, 4, 4, 4]
    )
    assert error.message == JUDGE_NOT_PATCHGAN.format(problem=problem)


def test_judge_with_non_finite_weights_is_refused() -> None:
    error = _refusal(_state(**{"model.0.weight": torch.full((4, 3, 4, 4), float("nan"))}))
    problem = JUDGE_BAD_VALUES.format(key="model.0.weight")
    assert error.message == JUDGE_NOT_PATCHGAN.format(problem=problem)


def test_another_network_is_not_a_judge() -> None:
    error = _refusal({"features.0.weight": torch.zeros(4, 3, 3, 3)})
    assert error.message.startswith(JUDGE_NOT_PATCHGAN.format(problem=""))
    assert "model.0.weight" in error.message
