"""The trainer's settings for a challenge: what the starter kit and the organizer's baseline
train with (its architecture, a crop that fits the resolution, the metric network's seed).

Here, in the app that owns challenges, because both the starter kit (competitions) and the
baseline (scoring) need them, and competitions comes first in the dependency order
(ARCHITECTURE.md).
"""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings as django_settings

from competitions.models import Challenge
from models.training import TrainingSettings

ARCHITECTURE_FOR = {
    Challenge.TaskKind.SINGLE_STYLE: "transformer_net",
    Challenge.TaskKind.ARBITRARY_STYLE: "adain",
}
# The admin action's budget: a few minutes on a CPU scoring worker at 128 px.
DEFAULT_STEPS = 300
DEFAULT_WIDTH = 8
DEFAULT_CROP = 64
DEFAULT_BATCH_SIZE = 2


def baseline_settings(
    *,
    challenge: Challenge,
    steps: int = DEFAULT_STEPS,
    width: int = DEFAULT_WIDTH,
    crop: int = DEFAULT_CROP,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
) -> TrainingSettings:
    """The trainer's settings for this challenge: its architecture, a crop that fits."""
    architecture = ARCHITECTURE_FOR[Challenge.TaskKind(challenge.task_kind)]
    multiple = 8 if architecture == "adain" else 4
    crop = min(crop, challenge.resolution)
    crop -= crop % multiple
    return replace(
        TrainingSettings(),
        architecture=architecture,
        width=width,
        crop=crop,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        vgg_seed=django_settings.ATELIER_VGG19_SEED,
        sample_every=steps,
        checkpoint_every=steps,
    )
