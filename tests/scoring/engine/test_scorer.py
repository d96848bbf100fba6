"""The streaming scoring pass: every metric, determinism, gallery, missing values, misuse."""

from __future__ import annotations

import gc
import math
import weakref

import pytest
import torch

from scoring.engine import (
    METRICS,
    ErrorCode,
    Judge,
    MetricNetwork,
    References,
    Scorer,
    ScoreResult,
    ScoringError,
    png_decode,
)
from scoring.engine.errors import BAD_OUTPUT_INDICES, INCOMPLETE_OUTPUTS
from scoring.engine.metrics import composite
from scoring.engine.scorer import INDEX_RANGE, INDEX_REPEATED, NO_JUDGE, NO_PARAMS
from tests.scoring.engine.helpers import build_references, smooth_images


@pytest.fixture(scope="module")
def references(
    content: torch.Tensor, style: torch.Tensor, tiny_network: MetricNetwork, tiny_judge: Judge
) -> References:
    return build_references(content, style, tiny_network, tiny_judge)


def _outputs(content: torch.Tensor) -> torch.Tensor:
    """A plausible "stylisation": the photo with its colours shifted."""
    return (content * torch.tensor([0.6, 1.0, 1.3]).view(1, 3, 1, 1)).clamp(0, 1)


def _score(
    references: References,
    network: MetricNetwork,
    judge: Judge | None,
    outputs: torch.Tensor,
    order: list[list[int]],
    gallery_size: int = 8,
) -> ScoreResult:
    scorer = Scorer(references, network, judge, gallery_size=gallery_size)
    for indices in order:
        scorer.update(indices, outputs[indices])
    return scorer.finish(generator_seconds=0.3, params=1234)


def test_every_metric_is_a_finite_number(
    references: References, content: torch.Tensor, tiny_network: MetricNetwork, tiny_judge: Judge
) -> None:
    result = _score(references, tiny_network, tiny_judge, _outputs(content), [[0, 1, 2], [3, 4, 5]])
    assert set(result.metrics) == set(METRICS)
    assert all(
        isinstance(value, float) and math.isfinite(value) for value in result.metrics.values()
    )
    assert result.missing == {}
    metrics = result.metrics
    assert metrics["params"] == 1234.0
    assert metrics["ms_per_image"] == pytest.approx(300.0 / 6)
    assert metrics["runtime_ratio"] == pytest.approx(0.3 / result.metric_seconds)
    assert 0.0 <= metrics["judge_realism"] <= 1.0  # type: ignore[operator]
    assert metrics["memorization_rate"] == 0.0
    assert metrics["composite"] == composite(
        content_distance=metrics["content_distance"],  # type: ignore[arg-type]
        style_distance=metrics["style_distance"],  # type: ignore[arg-type]
        palette_distance=metrics["palette_distance"],  # type: ignore[arg-type]
        memorization_rate=0.0,
        judge_realism=metrics["judge_realism"],
        style_baseline=result.baselines["style_distance"],
        palette_baseline=result.baselines["palette_distance"],
    )
    assert result.composite_from(metrics) == metrics["composite"]  # type: ignore[arg-type]
    assert set(result.per_image) == {
        "content_distance",
        "style_distance",
        "palette_distance",
        "memorization_rate",
        "judge_realism",
        "deception_rate",
    }
    assert all(len(values) == 6 for values in result.per_image.values())
    assert metrics["style_distance"] == pytest.approx(sum(result.per_image["style_distance"]) / 6)
    assert result.images == 6
    assert result.references_key == references.key
    assert result.as_dict()["fingerprint"]["calibrated"] is False


def test_unchanged_photos_have_zero_content_distance(
    references: References, content: torch.Tensor, tiny_network: MetricNetwork, tiny_judge: Judge
) -> None:
    result = _score(references, tiny_network, tiny_judge, content, [[0, 1, 2, 3, 4, 5]])
    assert result.metrics["content_distance"] == pytest.approx(0.0, abs=1e-12)


def test_same_outputs_scored_twice_give_identical_numbers(
    references: References, content: torch.Tensor, tiny_network: MetricNetwork, tiny_judge: Judge
) -> None:
    outputs = _outputs(content)
    first = _score(references, tiny_network, tiny_judge, outputs, [[0, 1], [2, 3], [4, 5]])
    second = _score(references, tiny_network, tiny_judge, outputs, [[0, 1], [2, 3], [4, 5]])
    timed = {"ms_per_image", "runtime_ratio"}
    assert {k: v for k, v in first.metrics.items() if k not in timed} == {
        k: v for k, v in second.metrics.items() if k not in timed
    }
    assert first.gallery == second.gallery


def test_batching_and_order_do_not_change_the_scores(
    references: References, content: torch.Tensor, tiny_network: MetricNetwork, tiny_judge: Judge
) -> None:
    outputs = _outputs(content)
    one_batch = _score(references, tiny_network, tiny_judge, outputs, [[0, 1, 2, 3, 4, 5]])
    shuffled = _score(references, tiny_network, tiny_judge, outputs, [[5, 2], [0], [4, 1, 3]])
    for name in ("content_distance", "style_distance", "judge_realism", "judge_fd", "composite"):
        assert shuffled.metrics[name] == pytest.approx(one_batch.metrics[name], rel=1e-5)
    assert [image.index for image in shuffled.gallery] == [0, 1, 2, 3, 4, 5]


def test_gallery_keeps_the_first_outputs_as_png(
    references: References, content: torch.Tensor, tiny_network: MetricNetwork, tiny_judge: Judge
) -> None:
    outputs = _outputs(content)
    result = _score(
        references, tiny_network, tiny_judge, outputs, [[3, 4, 5], [0, 1, 2]], gallery_size=2
    )
    assert [image.index for image in result.gallery] == [0, 1]
    decoded = png_decode(result.gallery[1].png)
    assert torch.allclose(decoded, outputs[1], atol=0.5 / 255 + 1e-6)


def test_scorer_keeps_no_output_batch(
    references: References, content: torch.Tensor, tiny_network: MetricNetwork, tiny_judge: Judge
) -> None:
    scorer = Scorer(references, tiny_network, tiny_judge, gallery_size=0)
    batch = _outputs(content)
    alive = weakref.ref(batch)
    scorer.update(range(6), batch)
    del batch
    gc.collect()
    assert alive() is None


def test_memorization_penalises_copies_of_a_public_style_image(
    content: torch.Tensor, tiny_network: MetricNetwork, tiny_judge: Judge
) -> None:
    style = smooth_images(1, 32, seed=7)
    references = build_references(content, style, tiny_network, tiny_judge)
    outputs = _outputs(content)
    outputs[0] = style[0]
    outputs[1] = style[0].flip(-1)
    result = _score(references, tiny_network, tiny_judge, outputs, [[0, 1, 2, 3, 4, 5]])
    metrics = result.metrics
    assert metrics["memorization_rate"] == pytest.approx(2 / 6)
    unpenalised = result.composite_from({**metrics, "memorization_rate": 0.0})  # type: ignore[dict-item]
    assert metrics["composite"] == pytest.approx(unpenalised * 4.0)


def test_without_judge_the_composite_takes_its_judge_free_form(
    content: torch.Tensor, style: torch.Tensor, tiny_network: MetricNetwork
) -> None:
    references = build_references(content, style, tiny_network, None)
    scorer = Scorer(references, tiny_network, None)
    scorer.update(range(6), _outputs(content))
    result = scorer.finish(generator_seconds=None, params=None)
    missing = (
        "judge_realism",
        "deception_rate",
        "judge_fd",
        "params",
        "ms_per_image",
        "runtime_ratio",
    )
    assert {name for name, value in result.metrics.items() if value is None} == set(missing)
    assert result.missing["judge_realism"] == NO_JUDGE
    assert result.missing["params"] == NO_PARAMS
    assert "composite" not in result.missing
    assert not result.judged
    metrics = result.metrics
    assert metrics["composite"] == pytest.approx(
        (1 + metrics["content_distance"])  # type: ignore[operator]
        * (1 + metrics["style_distance"] / result.baselines["style_distance"])  # type: ignore[operator]
        * (1 + metrics["palette_distance"] / result.baselines["palette_distance"])  # type: ignore[operator]
    )


def test_a_failed_judge_says_why_its_metrics_are_missing(
    content: torch.Tensor, style: torch.Tensor, tiny_network: MetricNetwork
) -> None:
    references = build_references(content, style, tiny_network, None)
    reason = "the challenge's judge failed its check: accuracy 0.50"
    scorer = Scorer(references, tiny_network, None, no_judge_reason=reason)
    scorer.update(range(6), content)
    result = scorer.finish(generator_seconds=None, params=None)
    assert {result.missing[name] for name in ("judge_realism", "deception_rate", "judge_fd")} == {
        reason
    }


def test_the_unchanged_photos_score_their_own_baselines(
    references: References, content: torch.Tensor, tiny_network: MetricNetwork, tiny_judge: Judge
) -> None:
    result = _score(references, tiny_network, tiny_judge, content, [[0, 1, 2, 3, 4, 5]])
    assert result.metrics["style_distance"] == pytest.approx(result.baselines["style_distance"])
    assert result.metrics["palette_distance"] == pytest.approx(result.baselines["palette_distance"])


def test_deception_counts_outputs_above_the_calibrated_threshold(
    references: References, content: torch.Tensor, tiny_network: MetricNetwork, tiny_judge: Judge
) -> None:
    outputs = _outputs(content)
    realism = _score(references, tiny_network, tiny_judge, outputs, [[0, 1, 2, 3, 4, 5]])
    values = sorted(realism.per_image["judge_realism"])
    threshold = (values[2] + values[3]) / 2
    scorer = Scorer(references, tiny_network, tiny_judge, deception_threshold=threshold)
    scorer.update(range(6), outputs)
    result = scorer.finish(generator_seconds=None, params=None)
    assert result.metrics["deception_rate"] == pytest.approx(0.5)
    assert result.deception_threshold == threshold


def test_arbitrary_style_compares_each_output_with_its_paired_style(
    content: torch.Tensor, tiny_network: MetricNetwork
) -> None:
    styles = smooth_images(2, 32, seed=11)
    references = build_references(content, styles, tiny_network, None, pairing=(1, 0, 1, 0, 1, 0))
    scorer = Scorer(references, tiny_network, None)
    scorer.update([0, 1], styles[[1, 0]])
    scorer.update([2, 3, 4, 5], styles[[1, 0, 1, 0]])
    assert scorer.finish(generator_seconds=1.0, params=1).metrics["style_distance"] == 0.0


def _misuse(
    references: References,
    network: MetricNetwork,
    judge: Judge,
    *calls: tuple[list[int], torch.Tensor],
) -> ScoringError:
    """The error of the last of `calls`, after the others went through."""
    scorer = Scorer(references, network, judge)
    for indices, outputs in calls[:-1]:
        scorer.update(indices, outputs)
    indices, outputs = calls[-1]
    with pytest.raises(ScoringError) as caught:
        scorer.update(indices, outputs)
    return caught.value


def test_repeated_image_is_refused(
    references: References, content: torch.Tensor, tiny_network: MetricNetwork, tiny_judge: Judge
) -> None:
    error = _misuse(
        references, tiny_network, tiny_judge, ([0, 1], content[:2]), ([1], content[1:2])
    )
    assert error.code == ErrorCode.BAD_OUTPUT_INDICES
    assert error.message == BAD_OUTPUT_INDICES.format(
        count=6, problem=INDEX_REPEATED.format(index=1)
    )


def test_index_out_of_range_is_refused(
    references: References, content: torch.Tensor, tiny_network: MetricNetwork, tiny_judge: Judge
) -> None:
    error = _misuse(references, tiny_network, tiny_judge, ([0, 6], content[:2]))
    assert error.message == BAD_OUTPUT_INDICES.format(count=6, problem=INDEX_RANGE.format(index=6))


@pytest.mark.parametrize(
    "outputs",
    [
        torch.full((1, 3, 32, 32), float("nan")),
        torch.full((1, 3, 32, 32), 1.5),
        torch.zeros(1, 3, 64, 64),
    ],
    ids=["nan", "out of range", "wrong size"],
)
def test_bad_outputs_are_refused(
    references: References, tiny_network: MetricNetwork, tiny_judge: Judge, outputs: torch.Tensor
) -> None:
    assert (
        _misuse(references, tiny_network, tiny_judge, ([0], outputs)).code == ErrorCode.BAD_IMAGES
    )


def test_result_needs_every_test_image(
    references: References, content: torch.Tensor, tiny_network: MetricNetwork, tiny_judge: Judge
) -> None:
    scorer = Scorer(references, tiny_network, tiny_judge)
    scorer.update([0, 1, 2], content[:3])
    with pytest.raises(ScoringError) as caught:
        scorer.finish(generator_seconds=1.0, params=1)
    assert caught.value.message == INCOMPLETE_OUTPUTS.format(scored=3, count=6)
