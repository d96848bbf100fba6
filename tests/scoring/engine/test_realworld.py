"""On real photos, artworks and the two published checkpoints, the engine ranks as it must.

A single-style challenge per artwork (mosaic.jpg, candy.jpg) with the three real photos as its
test images and the seeded random-weight VGG19 at its real width, scored without a judge (the
judge-free composite): the checkpoint trained for the artwork must win its challenge; copying
the artwork must be caught. tests/scoring/test_validity.py checks the same through the
platform's services, with a judge and the controls.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from leaderboard.ranking import COMPOSITE, Scored, place, ranking_rule_parse
from models.loading import CheckpointSpec, load_generator
from scoring.engine import MetricNetwork, References, Scorer, ScoreResult
from tests.scoring.engine.helpers import build_references, load_photo

pytestmark = pytest.mark.slow
RESOLUTION = 256
PHOTOS = ("amber", "chicago", "sailboat")
STYLES = ("mosaic", "candy")
TIMED = {"ms_per_image", "runtime_ratio"}


@dataclass(frozen=True)
class Challenge:
    references: References


@pytest.fixture(scope="module")
def photos(realworld: Path) -> torch.Tensor:
    return torch.stack(
        [load_photo(realworld / "content" / f"{name}.jpg", RESOLUTION) for name in PHOTOS]
    )


@pytest.fixture(scope="module")
def network() -> MetricNetwork:
    return MetricNetwork.random(seed=0)


def _stylise(realworld: Path, style: str, photos: torch.Tensor) -> torch.Tensor:
    path = realworld / "checkpoints" / f"{style}_transformernet_w16.pth"
    generator = load_generator(CheckpointSpec(path, "transformer_net"))
    with torch.inference_mode():
        return generator(photos)


@pytest.fixture(scope="module")
def outputs(realworld: Path, photos: torch.Tensor) -> dict[str, torch.Tensor]:
    """What each submission returns for the three photos."""
    return {"identity": photos, **{style: _stylise(realworld, style, photos) for style in STYLES}}


@pytest.fixture(scope="module")
def challenge(
    realworld: Path, photos: torch.Tensor, network: MetricNetwork
) -> Callable[[str], Challenge]:
    """The single-style challenge of an artwork, built once per module."""
    built: dict[str, Challenge] = {}

    def get(style: str) -> Challenge:
        if style not in built:
            artwork = load_photo(realworld / "styles" / f"{style}.jpg", RESOLUTION).unsqueeze(0)
            built[style] = Challenge(build_references(photos, artwork, network, None))
        return built[style]

    return get


def _score(challenge: Challenge, network: MetricNetwork, outputs: torch.Tensor) -> ScoreResult:
    """Score three outputs as the runner streams them: a batch of two, then one."""
    scorer = Scorer(challenge.references, network, None)
    scorer.update([0, 1], outputs[:2])
    scorer.update([2], outputs[2:])
    return scorer.finish(generator_seconds=1.0, params=1_679_235)


@pytest.mark.parametrize("style", STYLES)
def test_checkpoint_of_the_style_wins_its_challenge(
    style: str,
    challenge: Callable[[str], Challenge],
    network: MetricNetwork,
    outputs: dict[str, torch.Tensor],
) -> None:
    results = {
        name: _score(challenge(style), network, images).metrics for name, images in outputs.items()
    }
    style_distances = {name: metrics["style_distance"] for name, metrics in results.items()}
    assert min(style_distances, key=style_distances.__getitem__) == style, style_distances  # type: ignore[arg-type]
    first = _composite_order(results)[0]
    assert first == style, {name: metrics["composite"] for name, metrics in results.items()}


@pytest.mark.parametrize("style", STYLES)
def test_copying_the_public_style_image_is_caught(
    style: str,
    challenge: Callable[[str], Challenge],
    network: MetricNetwork,
    outputs: dict[str, torch.Tensor],
    realworld: Path,
) -> None:
    artwork = load_photo(realworld / "styles" / f"{style}.jpg", RESOLUTION)
    copies = {
        "verbatim": artwork.expand(3, -1, -1, -1),
        "mirrored": artwork.flip(-1).expand(3, -1, -1, -1),
    }
    honest = {name: _score(challenge(style), network, outputs[name]).metrics for name in STYLES}
    for name, images in copies.items():
        result = _score(challenge(style), network, images)
        metrics = result.metrics
        assert metrics["memorization_rate"] == 1.0, name
        unpenalised = result.composite_from({**metrics, "memorization_rate": 0.0})  # type: ignore[dict-item]
        assert metrics["composite"] == pytest.approx(10 * unpenalised)
        assert all(metrics["composite"] > scores["composite"] for scores in honest.values())  # type: ignore[operator]
    assert all(scores["memorization_rate"] == 0.0 for scores in honest.values())


def test_same_checkpoint_scored_twice_gives_identical_numbers(
    challenge: Callable[[str], Challenge],
    network: MetricNetwork,
    realworld: Path,
    photos: torch.Tensor,
) -> None:
    results = [
        _score(challenge("mosaic"), network, _stylise(realworld, "mosaic", photos))
        for _ in range(2)
    ]
    first, second = (
        {k: v for k, v in result.metrics.items() if k not in TIMED} for result in results
    )
    assert first == second
    assert results[0].gallery == results[1].gallery


def _composite_order(results: dict[str, dict[str, object]]) -> list[str]:
    """The names in the order of the leaderboard's default composite rule."""
    submitted = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    scored = {
        uuid.uuid5(uuid.NAMESPACE_OID, name): Scored(
            submission_id=uuid.uuid5(uuid.NAMESPACE_OID, name),
            participant_id=index,
            submitted_at=submitted,
            scores=metrics,
        )
        for index, (name, metrics) in enumerate(results.items())
    }
    names = dict(zip(scored, results, strict=True))
    rule = ranking_rule_parse(kind=COMPOSITE, spec="")
    return [names[placed.scored.submission_id] for placed in place(rule, list(scored.values()))]
