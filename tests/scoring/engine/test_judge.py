"""The judge: deterministic training, safetensors round trip, validation of uploaded judges."""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch
import torch

from models.zoo.patch_discriminator import PatchDiscriminator
from scoring.engine import (
    ErrorCode,
    Judge,
    JudgeSettings,
    ScoringError,
    judge_check,
    judge_train,
)
from scoring.engine import judge as judge_module
from scoring.engine.errors import (
    JUDGE_BAD_VALUES,
    JUDGE_GATE_ACCURACY,
    JUDGE_GATE_TILES,
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
from scoring.engine.judge_training import calibrated_threshold
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


def test_training_reports_its_curve_and_held_out_check(
    content: torch.Tensor, style: torch.Tensor
) -> None:
    steps: list[tuple[int, int]] = []
    result = judge_train(
        style[:1],
        content,
        JudgeSettings(
            steps=5, width=4, n_layers=2, crop=16, batch_size=4, loss="bce", tile=8, textures=8
        ),
        negative_images=stripes(3, 32, period=2),
        progress=lambda step, total, loss: steps.append((step, total)),
    )
    assert steps == [(step, 5) for step in range(1, 6)]
    assert len(result.losses) == 5
    # One style image: its bottom-right 16-pixel quarter, four 8-pixel tiles. Six photos: the
    # last one (16 tiles), and it degraded (16); three negatives: the last (16); 2 textures (32).
    held = result.heldout
    assert held.style_tiles == 4
    assert held.tiles == 4 + 16 + 16 + 16 + 32
    assert set(held.by_set) == {"style", "photos", "degraded", "negatives", "textures"}
    not_style = [value for name, value in held.by_set.items() if name != "style"]
    assert held.not_style_accuracy == pytest.approx(sum(not_style) / 4)
    assert held.accuracy == pytest.approx((held.style_accuracy + held.not_style_accuracy) / 2)
    assert 0.5 <= held.threshold <= 1.0
    assert result.sets == {"style": 1, "photos": 5, "negatives": 2, "textures": 8}
    summary = result.summary()
    assert summary["sha256"] == result.judge.sha256
    assert summary["config"] == {"width": 4, "n_layers": 2, "norm": "instance"}
    assert summary["settings"]["loss"] == "bce"
    assert summary["heldout_tiles"] == held.tiles
    assert summary["deception_threshold"] == held.threshold


def test_a_judge_that_cannot_tell_the_style_from_photos_fails_the_gate(
    content: torch.Tensor,
) -> None:
    # The "style" is a set of photos like the public ones: nothing to learn.
    settings = JudgeSettings(steps=10, width=4, n_layers=2, crop=16, batch_size=4, tile=8)
    result = judge_train(smooth_images(5, 32, seed=3), content, settings)
    assert not result.passed
    held = result.heldout
    assert result.failure == JUDGE_GATE_ACCURACY.format(
        accuracy=held.accuracy,
        minimum=0.9,
        style=held.style_accuracy,
        not_style=held.not_style_accuracy,
    )
    assert result.summary()["passed"] is False
    assert result.summary()["failure"] == result.failure


def test_a_judge_checked_on_too_few_tiles_fails_the_gate(
    content: torch.Tensor, style: torch.Tensor
) -> None:
    settings = JudgeSettings(steps=2, width=4, n_layers=2, crop=16, batch_size=4, tile=32)
    result = judge_train(style, content, settings)
    assert result.heldout.tiles < 64
    assert result.failure == JUDGE_GATE_TILES.format(tiles=result.heldout.tiles, minimum=64)


def test_a_separable_style_passes_the_gate(content: torch.Tensor) -> None:
    settings = JudgeSettings(
        steps=60, width=8, n_layers=2, crop=16, batch_size=8, tile=8, min_tiles=32
    )
    result = judge_train(stripes(4, 32, period=4), content, settings)
    assert result.passed, result.summary()
    assert result.heldout.accuracy >= 0.9


@pytest.mark.parametrize(
    ("probabilities", "rate", "expected"),
    [
        (torch.linspace(0, 1, 101), 0.05, 0.95),
        (torch.linspace(0, 1, 101), 0.10, 0.90),
        (torch.full((40,), 0.2), 0.05, 0.5),  # never below 0.5
        (torch.tensor([0.1, 0.7, 0.9]), 0.5, 0.7),
    ],
)
def test_the_deception_threshold_is_calibrated_on_held_out_photos(
    probabilities: torch.Tensor, rate: float, expected: float
) -> None:
    assert calibrated_threshold(probabilities, rate) == pytest.approx(expected)


def test_an_uploaded_judge_is_checked_on_all_the_images(
    content: torch.Tensor, style: torch.Tensor, tiny_judge: Judge
) -> None:
    settings = JudgeSettings(tile=8, textures=8)
    held = judge_check(tiny_judge, style, content, settings)
    # Two style images and six photos, each 16 tiles; the photos degraded (96); 2 textures.
    assert held.style_tiles == 2 * 16
    assert held.tiles == 32 + 96 + 96 + 32
    assert judge_check(tiny_judge, style, content, settings) == held


def test_unknown_loss_is_refused(content: torch.Tensor, style: torch.Tensor) -> None:
    with pytest.raises(ScoringError) as caught:
        judge_train(style, content, JudgeSettings(loss="wasserstein"))
    assert caught.value.code == ErrorCode.JUDGE_TRAINING_DATA
    assert caught.value.message == JUDGE_TRAINING_LOSS.format(
        loss="wasserstein", known="hinge, bce"
    )


def test_crop_must_leave_room_for_a_held_out_band(content: torch.Tensor) -> None:
    with pytest.raises(ScoringError) as caught:
        judge_train(stripes(1, 32), content, JudgeSettings(crop=17, n_layers=2))
    assert caught.value.message == JUDGE_TRAINING_CROP.format(crop=17, resolution=32)


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
