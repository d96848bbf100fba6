"""The reference cache: contents, safetensors round trip, keys, staleness and rebuilding."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from scoring.engine import (
    ErrorCode,
    Judge,
    MetricNetwork,
    References,
    Scorer,
    ScoringError,
    TaskKind,
    references_build,
    references_key,
    references_stale,
)
from scoring.engine.errors import STALE_REFERENCES
from scoring.engine.metrics import STYLE_KEYS, layouts
from scoring.engine.references import PAIRING_MISMATCH
from tests.scoring.engine.helpers import build_references, smooth_images, spec_for


def _key(content: torch.Tensor, style: torch.Tensor, network: MetricNetwork, judge: Judge) -> str:
    return references_key(spec_for(content, style, style), network.fingerprint(32), judge.sha256)


def test_references_hold_what_scoring_needs(
    content: torch.Tensor, style: torch.Tensor, tiny_network: MetricNetwork, tiny_judge: Judge
) -> None:
    references = build_references(content, style, tiny_network, tiny_judge)
    assert references.count == 6
    assert references.resolution == 32
    assert references.task_kind == TaskKind.SINGLE_STYLE
    expected = layouts(tiny_network.features(content)[tiny_network.layout_tap], 32)
    torch.testing.assert_close(references.content_layouts, expected)
    assert references.content_layouts.dtype == torch.float64
    assert {
        tap: target.shape[0] for tap, target in references.style_targets.items()
    } == dict.fromkeys(STYLE_KEYS, 1)
    # Two public style images and their mirror images.
    assert references.public_style_signatures.shape == (4, 1024)
    assert references.judge_mean is not None
    assert references.judge_covariance is not None
    assert references.judge_covariance.shape == (16, 16)
    assert references.judge_sha256 == tiny_judge.sha256
    assert references.key == _key(content, style, tiny_network, tiny_judge)


def test_round_trip_through_a_file(
    tmp_path: Path,
    content: torch.Tensor,
    style: torch.Tensor,
    tiny_network: MetricNetwork,
    tiny_judge: Judge,
) -> None:
    references = build_references(content, style, tiny_network, tiny_judge)
    path = tmp_path / "references.safetensors"
    references.save(path)
    loaded = References.load(path)
    assert loaded.key == references.key
    assert loaded.fingerprint == references.fingerprint
    assert loaded.judge_sha256 == references.judge_sha256
    assert loaded.style_pairing is None
    assert torch.equal(loaded.content_layouts, references.content_layouts)
    assert torch.equal(loaded.judge_covariance, references.judge_covariance)  # type: ignore[arg-type]
    assert all(
        torch.equal(loaded.style_targets[tap], references.style_targets[tap])
        for tap in references.style_targets
    )
    assert not references_stale(path, references.key)


def test_key_changes_with_every_input(
    content: torch.Tensor,
    style: torch.Tensor,
    tiny_network: MetricNetwork,
    tiny_judge: Judge,
    other_judge: Judge,
) -> None:
    spec = spec_for(content, style, style)
    fingerprint = tiny_network.fingerprint(32)
    base = references_key(spec, fingerprint, tiny_judge.sha256)
    variants = [
        references_key(spec, fingerprint, other_judge.sha256),
        references_key(spec, fingerprint, None),
        references_key(replace(spec, prototypes=2), fingerprint, tiny_judge.sha256),
        references_key(
            replace(spec, content_sha256=spec.content_sha256[::-1]), fingerprint, tiny_judge.sha256
        ),
        references_key(replace(spec, public_style_sha256=()), fingerprint, tiny_judge.sha256),
        references_key(spec, MetricNetwork.random(1, width=4).fingerprint(32), tiny_judge.sha256),
        references_key(spec, tiny_network.fingerprint(64), tiny_judge.sha256),
    ]
    assert len({base, *variants}) == len(variants) + 1
    assert references_key(spec, fingerprint, tiny_judge.sha256) == base


def test_stale_cache_is_rebuilt_after_the_judge_changes(
    tmp_path: Path,
    content: torch.Tensor,
    style: torch.Tensor,
    tiny_network: MetricNetwork,
    tiny_judge: Judge,
    other_judge: Judge,
) -> None:
    path = tmp_path / "references.safetensors"
    assert references_stale(path, "anything")  # no cache yet
    build_references(content, style, tiny_network, tiny_judge).save(path)
    assert not references_stale(path, _key(content, style, tiny_network, tiny_judge))

    # The organizer retrains the judge: the cache no longer matches and scoring refuses it.
    wanted = _key(content, style, tiny_network, other_judge)
    assert references_stale(path, wanted)
    with pytest.raises(ScoringError) as caught:
        Scorer(References.load(path), tiny_network, other_judge)
    assert caught.value.code == ErrorCode.STALE_REFERENCES
    assert caught.value.message == STALE_REFERENCES.format(
        built=f"judge {tiny_judge.sha256[:12]}", expected=f"judge {other_judge.sha256[:12]}"
    )

    build_references(content, style, tiny_network, other_judge).save(path)
    assert not references_stale(path, wanted)
    rebuilt = References.load(path)
    scorer = Scorer(rebuilt, tiny_network, other_judge)
    scorer.update(range(6), content)
    assert scorer.finish(generator_seconds=1.0, params=10).metrics["judge_fd"] is not None


def test_scoring_refuses_a_cache_of_another_network(
    content: torch.Tensor, style: torch.Tensor, tiny_network: MetricNetwork
) -> None:
    references = build_references(content, style, tiny_network, None)
    with pytest.raises(ScoringError) as caught:
        Scorer(references, MetricNetwork.random(1, width=4), None)
    assert caught.value.code == ErrorCode.STALE_REFERENCES


def test_damaged_cache_is_stale_and_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "references.safetensors"
    path.write_bytes(b"\xff" * 64)
    assert references_stale(path, "anything")
    with pytest.raises(ScoringError) as caught:
        References.load(path)
    assert caught.value.code == ErrorCode.BAD_REFERENCES_FILE


def test_arbitrary_style_keeps_one_target_per_style_image_and_the_pairing(
    content: torch.Tensor, tiny_network: MetricNetwork
) -> None:
    styles = smooth_images(3, 32, seed=9)
    pairing = (0, 1, 2, 0, 1, 2)
    references = build_references(content, styles, tiny_network, None, pairing=pairing)
    assert references.task_kind == TaskKind.ARBITRARY_STYLE
    assert references.style_targets["relu1_1.covariance"].shape[0] == 3
    assert references.style_pairing is not None
    assert references.style_pairing.tolist() == list(pairing)
    assert References.from_bytes(references.to_bytes()).style_pairing.tolist() == list(pairing)  # type: ignore[union-attr]


def test_pairing_belongs_to_arbitrary_style_only(
    content: torch.Tensor, style: torch.Tensor
) -> None:
    spec = spec_for(content, style, style)
    with pytest.raises(ValueError, match=PAIRING_MISMATCH):
        replace(spec, style_pairing=(0,) * 6)


def test_cache_without_judge_has_no_judge_statistics(
    content: torch.Tensor, style: torch.Tensor, tiny_network: MetricNetwork
) -> None:
    references = build_references(content, style, tiny_network, None, public=style[:0])
    assert references.judge_mean is None
    assert references.judge_sha256 is None
    assert references.public_style_signatures.shape == (0, 1024)
    loaded = References.from_bytes(references.to_bytes())
    assert loaded.judge_mean is None
    assert loaded.judge_sha256 is None


def test_hash_count_must_match_the_images(
    content: torch.Tensor, style: torch.Tensor, tiny_network: MetricNetwork
) -> None:
    spec = spec_for(content[:5], style, style)
    with pytest.raises(ValueError, match="content images: 6 image"):
        references_build(
            spec,
            content_images=content,
            style_images=style,
            public_style_images=style,
            network=tiny_network,
            judge=None,
        )


def test_single_style_cache_keeps_k_prototypes(
    content: torch.Tensor, tiny_network: MetricNetwork
) -> None:
    styles = smooth_images(4, 32, seed=5)
    references = build_references(content, styles, tiny_network, None, prototypes=2)
    assert all(target.shape[0] == 2 for target in references.style_targets.values())


def test_more_prototypes_than_distinct_style_images_is_refused(
    content: torch.Tensor, style: torch.Tensor, tiny_network: MetricNetwork
) -> None:
    # The two stripe images are identical: one distinct style, so K = 2 cannot be met.
    with pytest.raises(ScoringError) as caught:
        build_references(content, style, tiny_network, None, prototypes=2)
    assert caught.value.code == ErrorCode.TOO_MANY_PROTOTYPES
