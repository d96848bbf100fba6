"""The demo: accounts, a published challenge made of procedural images, two baselines.

``demo_seed`` is idempotent: it creates what is missing and leaves what exists. The demo
challenge goes through the same bundle import as any organizer's challenge. Its leaderboard
starts with two organizer baselines, submitted like any checkpoint and scored by the worker:
the identity (a torch.export program returning the photo unchanged, the score of doing
nothing) and a small TransformerNet trained by the starter kit's trainer on the public data.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.utils import timezone
from torch import nn

from competitions.models import Challenge, Participation
from competitions.procedural import STYLE_FAMILIES, landscape, style_image
from competitions.roles import ORGANIZERS_GROUP, organizers_group_ensure
from competitions.services import challenge_bundle_import, participation_join

logger = logging.getLogger(__name__)

DEMO_SLUG = "paint-the-valley"
DEMO_SEED = 2026
# The trained baseline: about two minutes on two CPU cores (benchmarks/train_throughput.py).
BASELINE_STEPS = 300
BASELINE_WIDTH = 8
BASELINE_CROP = 64
BASELINE_BATCH_SIZE = 2
IDENTITY_DESCRIPTION = "Identity baseline: the photo unchanged"
CONTENT_PUBLIC = 8
CONTENT_HIDDEN = 22
# (family, variant, split): two of each family, the second brush and palette kept hidden.
STYLES = [
    *((family, 0, "public") for family in STYLE_FAMILIES),
    ("mosaic", 1, "public"),
    ("stripes", 1, "public"),
    ("brush", 1, "hidden"),
    ("palette", 1, "hidden"),
]

DESCRIPTION = """\
Turn valley landscapes into paintings.

Your generator receives a **{resolution}×{resolution} RGB photo** of a landscape (sky, hills,
sometimes a town or a lake) and must return the same scene painted in the challenge style:
the textures of the style images on the Data tab (mosaic tiles, stripes, brush strokes,
palette patterns).

Submissions are scored on hidden photos for **content** (does the scene survive?),
**style** (Gram statistics of a VGG network against the style images) and **realism**
(a discriminator trained on the style images). See the Rules tab.
"""

RULES = """\
1. One account per person. Teams are not allowed in this demo.
2. Submit trained generator checkpoints (`.safetensors` preferred) of the architectures the
   submit form lists. Checkpoints are loaded as data; no code of yours runs on the server.
3. Outputs that copy a style image instead of painting the photo are penalised.
4. The public data may be used only for this challenge.
"""

TOML = """\
slug = "{slug}"
title = "Paint the Valley"
summary = "Repaint procedural landscapes in a mosaic, stripe, brush and palette style."
task_kind = "single_style"
resolution = {resolution}
public_fraction = 0.3
registration = "open"
status = "published"
description = "description.md"
rules = "rules.md"

[[phases]]
name = "Development"
starts_at = "{starts}"
ends_at = "{ends}"
max_per_day = 10
max_total = 200
max_running = 2
time_limit_s = 600
max_params = 10000000
"""


@dataclass(frozen=True)
class DemoResult:
    challenge: Challenge
    created_challenge: bool
    organizer: AbstractBaseUser
    participant: AbstractBaseUser
    password: str
    baselines: list = field(default_factory=list)


def demo_bundle_write(
    directory: Path,
    *,
    seed: int = DEMO_SEED,
    resolution: int = 128,
    slug: str = DEMO_SLUG,
    content_public: int = CONTENT_PUBLIC,
    content_hidden: int = CONTENT_HIDDEN,
) -> Path:
    """Write the demo bundle (a folder) under ``directory`` and return its path."""
    root = directory / slug
    for kind in ("content", "style"):
        for split in ("public", "hidden"):
            (root / kind / split).mkdir(parents=True, exist_ok=True)
    for index in range(content_public + content_hidden):
        split = "public" if index < content_public else "hidden"
        landscape(seed, index).save(root / "content" / split / f"valley-{index:03d}.png")
    for family, variant, split in STYLES:
        image = style_image(seed, family, variant)
        image.save(root / "style" / split / f"{family}-{variant}.png")
    now = timezone.now().replace(microsecond=0)
    (root / "description.md").write_text(DESCRIPTION.format(resolution=resolution))
    (root / "rules.md").write_text(RULES)
    (root / "challenge.toml").write_text(
        TOML.format(
            slug=slug,
            resolution=resolution,
            starts=(now - dt.timedelta(days=1)).isoformat(),
            ends=(now + dt.timedelta(days=120)).isoformat(),
        )
    )
    return root


def demo_user_ensure(
    *, username: str, password: str, email: str, organizer: bool = False
) -> AbstractBaseUser:
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username, defaults={"email": email})
    user.set_password(password)
    if organizer:
        user.is_staff = True
    user.save()
    if organizer:
        organizers_group_ensure()
        user.groups.add(Group.objects.get(name=ORGANIZERS_GROUP))
    return user


def demo_seed(
    *,
    password: str,
    seed: int = DEMO_SEED,
    baseline_steps: int | None = BASELINE_STEPS,
) -> DemoResult:
    """Create the demo accounts, challenge and baselines where they are missing.

    `baseline_steps=None` leaves the baselines out (tests that only need the challenge).
    """
    with transaction.atomic():
        organizer = demo_user_ensure(
            username="organizer",
            password=password,
            email="organizer@atelier.local",
            organizer=True,
        )
        participant = demo_user_ensure(
            username="participant", password=password, email="participant@atelier.local"
        )
    challenge = Challenge.objects.filter(slug=DEMO_SLUG).first()
    created = challenge is None
    if challenge is None:
        with tempfile.TemporaryDirectory(prefix="atelier-demo-") as workdir:
            bundle = demo_bundle_write(Path(workdir), seed=seed)
            challenge = challenge_bundle_import(source=bundle, organizer=organizer)
    challenge.organizers.add(organizer)
    if not Participation.objects.filter(user=participant, challenge=challenge).exists():
        participation_join(user=participant, challenge=challenge, accept_rules=True)
    baselines = []
    if baseline_steps is not None:
        baselines = demo_baselines_ensure(
            challenge=challenge, organizer=organizer, steps=baseline_steps
        )
    return DemoResult(
        challenge=challenge,
        created_challenge=created,
        organizer=organizer,
        participant=participant,
        password=password,
        baselines=baselines,
    )


class IdentityGenerator(nn.Module):
    """Returns its input: the baseline of changing nothing (clamped, so it is an operator)."""

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        return content.clamp(0.0, 1.0)


def identity_program_write(path: Path) -> Path:
    """The identity generator as a .pt2 program with dynamic batch, height and width."""
    dynamic = torch.export.Dim.DYNAMIC
    program = torch.export.export(
        IdentityGenerator().eval(),
        (torch.rand(2, 3, 64, 64),),
        dynamic_shapes=({0: dynamic, 2: dynamic, 3: dynamic},),
    )
    torch.export.save(program, path)
    return path


def demo_baselines_ensure(*, challenge: Challenge, organizer: AbstractBaseUser, steps: int) -> list:
    """Submit the identity and the trained baseline unless they are there already."""
    from scoring.baseline import DESCRIPTION, baseline_settings, baseline_train_and_submit
    from submissions.models import Submission
    from submissions.services import submission_create

    existing = Submission.objects.filter(phase__challenge=challenge, is_baseline=True).exclude(
        status__in=[Submission.Status.FAILED, Submission.Status.CANCELLED]
    )
    submitted = []
    if not existing.filter(description=IDENTITY_DESCRIPTION).exists():
        with tempfile.TemporaryDirectory(prefix="atelier-identity-") as folder:
            path = identity_program_write(Path(folder) / "identity.pt2")
            submitted.append(
                submission_create(
                    user=organizer,
                    challenge=challenge,
                    checkpoint_path=path,
                    checkpoint_name=path.name,
                    architecture="exported",
                    io_range="0-1",
                    description=IDENTITY_DESCRIPTION,
                    is_baseline=True,
                )
            )
    settings = baseline_settings(
        challenge=challenge,
        steps=steps,
        width=BASELINE_WIDTH,
        crop=BASELINE_CROP,
        batch_size=BASELINE_BATCH_SIZE,
    )
    description = DESCRIPTION.format(
        architecture=settings.architecture, width=settings.width, steps=settings.steps
    )
    if not existing.filter(description=description).exists():
        logger.info("training the demo baseline: %d steps", steps)
        submitted.append(
            baseline_train_and_submit(challenge=challenge, user=organizer, settings=settings)
        )
    return submitted
