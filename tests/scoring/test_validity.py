"""The validity benchmark's properties on small data, so that a regression fails CI.

Two single-style challenges (candy.jpg, mosaic.jpg) made through the bundle import, with the
three real photos as hidden test images and their corner crops as public photos, at 256 pixels
(the checkpoints' own scale: at 128 their strokes no longer look like their style). Candy's
judge is trained by the scoring service (mosaic.jpg among its negatives) and scores; mosaic's is
never trained, so its challenge is scored in the judge-free form. One metric-network seed.
Entries: the four published checkpoints (two per style) and the controls of
`scoring.validity.CONTROLS`. benchmarks/scoring_validity.py is the full measurement (style-bank
distractors, three network and three judge seeds).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from models.loading import CheckpointSpec, load_generator
from scoring import engine
from scoring.models import ScoringProfile
from scoring.services import judge_train
from scoring.validity import (
    CONTROLS,
    ChallengeImages,
    challenge_score,
    corner_crops,
    style_images_of,
    validity_challenge_create,
)
from tests.scoring.engine.helpers import REALWORLD

# The scores are computed once for the module (below); the marker makes pytest-django create
# the test database even when this module runs alone.
pytestmark = [pytest.mark.django_db, pytest.mark.slow]

RESOLUTION = 256
JUDGED = "candy"
STYLES = ("candy", "mosaic")


@pytest.fixture(scope="module")
def scored(django_db_setup, django_db_blocker, tmp_path_factory) -> dict:  # type: ignore[no-untyped-def]
    """Both challenges, their judges, and every entry's whole-set scores."""
    if not REALWORLD.is_dir():
        pytest.skip(f"the real-world fixtures are not at {REALWORLD}")
    folder = tmp_path_factory.mktemp("public-photos")
    photos = sorted((REALWORLD / "content").glob("*.jpg"))
    public = corner_crops(photos, folder)
    checkpoints = sorted((REALWORLD / "checkpoints").iterdir())
    generators = {
        path.stem: load_generator(CheckpointSpec(path, "transformer_net")) for path in checkpoints
    }
    network = engine.MetricNetwork.random(0, members=engine.network.DEFAULT_MEMBERS)
    with django_db_blocker.unblock():
        challenges = {
            style: validity_challenge_create(
                slug=f"validity-test-{style}",
                images=ChallengeImages(
                    style=[REALWORLD / "styles" / f"{style}.jpg"], hidden=photos, public=public
                ),
                resolution=RESOLUTION,
            )
            for style in STYLES
        }
        profiles = {
            style: judge_train(challenge=challenge) for style, challenge in challenges.items()
        }
        scores: dict[str, dict[str, dict[str, float | None]]] = {}
        for style, challenge in challenges.items():
            style_images = style_images_of(challenge)
            entries: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
                **generators,
                **{
                    name: lambda photos, control=control, images=style_images: control(
                        photos, images
                    )
                    for name, control in CONTROLS.items()
                },
            }
            scores[style] = {
                name: challenge_score(challenge=challenge, outputs=outputs, network=network).metrics
                for name, outputs in entries.items()
            }
        for challenge in challenges.values():
            challenge.delete()
    return {"profiles": profiles, "scores": scores}


def _own(name: str, style: str) -> bool:
    return name.startswith(f"{style}_")


def test_the_judge_passes_its_gate_on_enough_held_out_tiles(scored: dict) -> None:
    profile: ScoringProfile = scored["profiles"][JUDGED]
    assert profile.judge_status == ScoringProfile.JudgeStatus.READY, profile.judge_error
    assert profile.judge_summary["heldout_tiles"] >= 64
    assert profile.judge_summary["heldout_accuracy"] >= 0.9


@pytest.mark.parametrize("style", STYLES)
def test_the_checkpoint_of_the_style_ranks_first(scored: dict, style: str) -> None:
    scores = scored["scores"][style]
    composite = {name: metrics["composite"] for name, metrics in scores.items()}
    assert _own(min(composite, key=composite.__getitem__), style), composite


@pytest.mark.parametrize("style", STYLES)
def test_every_control_ranks_below_every_real_stylisation(scored: dict, style: str) -> None:
    scores = scored["scores"][style]
    worst_own = max(metrics["composite"] for name, metrics in scores.items() if _own(name, style))
    below = {name: scores[name]["composite"] for name in CONTROLS}
    assert all(value > worst_own for value in below.values()), (worst_own, below)


@pytest.mark.parametrize("style", STYLES)
def test_the_other_style_ranks_below_on_style_distance_and_composite(
    scored: dict, style: str
) -> None:
    scores = scored["scores"][style]
    own = [metrics for name, metrics in scores.items() if _own(name, style)]
    wrong = [
        metrics
        for name, metrics in scores.items()
        if name not in CONTROLS and not _own(name, style)
    ]
    for metric in ("style_distance", "composite"):
        assert min(m[metric] for m in wrong) > max(m[metric] for m in own), metric


@pytest.mark.parametrize("style", STYLES)
def test_the_judge_is_deceived_by_the_style_and_not_by_the_photo(scored: dict, style: str) -> None:
    scores = scored["scores"][style]
    assert scores["identity"]["deception_rate"] <= 0.1
    for name, metrics in scores.items():
        if _own(name, style):
            assert metrics["deception_rate"] >= 0.5, name
