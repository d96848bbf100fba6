"""The demo: accounts, a published challenge made of procedural images, a credible leaderboard.

``demo_seed`` is idempotent: it creates what is missing and leaves what exists. The demo
challenge goes through the same bundle import as any organizer's challenge. Its leaderboard
starts with entries of clearly different quality, submitted like any checkpoint and scored by
the worker: three demo participants (ada, ben, cleo) submit one run of the starter kit's trainer
on the public data taken at three lengths, and three entries make no real attempt: the
organizer's identity and blur baselines (torch.export programs returning the photo unchanged or
blurred) and dana's program that paints the style's average colour whatever the photo. The
default composite ranks the longest run first, each shorter run below the longer one, the
photo above the blurred photo and the flat colour last (tests/demo/test_demo.py); where the
short runs, which keep little of the scene at CI's 480 steps, fall among the photo's
baselines is left to the metrics.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.utils import timezone
from torch import nn
from torch.nn import functional

from accounts.roles import ORGANIZERS_GROUP, organizers_group_ensure
from competitions.models import Challenge, ChallengeImage, Participation
from competitions.procedural import landscape, style_image
from competitions.services import challenge_bundle_import, participation_join
from competitions.training import baseline_settings
from scoring.services import images_load
from submissions.baseline import baseline_train
from submissions.models import Submission
from submissions.services import submission_create

logger = logging.getLogger(__name__)

DEMO_SLUG = "paint-the-valley"
DEMO_SEED = 2026
# The longest trainer run: about three minutes on two CPU cores (benchmarks/train_throughput.py).
TRAINING_STEPS = 1200
TRAINING_WIDTH = 8
TRAINING_CROP = 64
TRAINING_BATCH_SIZE = 2
# Who submits the run at which share of its steps: longer training, better paintings.
TRAINED_PARTICIPANTS = (("ada", 1.0), ("ben", 0.5), ("cleo", 0.25))
TRAINED_DESCRIPTION = "Starter kit: {architecture} width {width}, {steps} steps"
IDENTITY_DESCRIPTION = "Identity baseline: the photo unchanged"
BLUR_DESCRIPTION = "Blur baseline: the photo blurred (σ = 2 pixels)"
BLUR_SIGMA = 2.0
FLAT_PARTICIPANT = "dana"
FLAT_DESCRIPTION = "The style's average colour, whatever the photo"
CONTENT_PUBLIC = 8
CONTENT_HIDDEN = 22
# One style, as a real challenge has: six brush-stroke paintings in one palette, two hidden.
STYLE_FAMILY = "brush"
STYLES = [(variant, "public" if variant < 4 else "hidden") for variant in range(6)]

DESCRIPTION = """\
Turn valley landscapes into paintings.

Your generator receives a **{resolution}×{resolution} RGB photo** of a landscape (sky, hills,
sometimes a town or a lake) and must return the same scene painted in the challenge style:
the short brush strokes, in an orange, teal and green palette, of the style images on the Data
tab.

Submissions are scored on hidden photos for **content** (does the scene survive?),
**style** (texture statistics of random filter banks against the style images), **palette** (the
colours of the style) and **realism** (a discriminator trained to tell the style from
everything else). See the Rules tab.
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
summary = "Repaint procedural landscapes in short, bright brush strokes."
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
    submissions: list = field(default_factory=list)


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
    for variant, split in STYLES:
        image = style_image(seed, STYLE_FAMILY, variant, palette=0)
        image.save(root / "style" / split / f"{STYLE_FAMILY}-{variant}.png")
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
    training_steps: int | None = TRAINING_STEPS,
) -> DemoResult:
    """Create the demo accounts, challenge and leaderboard entries where they are missing.

    `training_steps=None` leaves the entries out (tests that only need the challenge).
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
    submissions = []
    if training_steps is not None:
        submissions = demo_entries_ensure(
            challenge=challenge, organizer=organizer, password=password, steps=training_steps
        )
    return DemoResult(
        challenge=challenge,
        created_challenge=created,
        organizer=organizer,
        participant=participant,
        password=password,
        submissions=submissions,
    )


class IdentityGenerator(nn.Module):
    """Returns its input: the baseline of changing nothing (clamped, so it is an operator)."""

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        return content.clamp(0.0, 1.0)


class BlurGenerator(nn.Module):
    """The photo under a Gaussian blur: a cheap trick that makes no attempt at the style."""

    def __init__(self, sigma: float = BLUR_SIGMA) -> None:
        super().__init__()
        self.radius = max(1, math.ceil(3 * sigma))
        offsets = torch.arange(-self.radius, self.radius + 1, dtype=torch.float32)
        kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
        kernel = (kernel / kernel.sum()).repeat(3, 1)
        self.register_buffer("horizontal", kernel.view(3, 1, 1, -1))
        self.register_buffer("vertical", kernel.view(3, 1, -1, 1))

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        padded = functional.pad(content, (self.radius,) * 4, mode="replicate")
        blurred = functional.conv2d(padded, self.horizontal, groups=3)
        return functional.conv2d(blurred, self.vertical, groups=3).clamp(0.0, 1.0)


class FlatGenerator(nn.Module):
    """One colour everywhere, whatever the photo: no scene, no strokes."""

    def __init__(self, colour: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("colour", colour.reshape(1, 3, 1, 1).float())

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        return (content * 0.0 + self.colour).clamp(0.0, 1.0)


def program_write(module: nn.Module, path: Path) -> Path:
    """A generator as a .pt2 program with dynamic batch, height and width."""
    dynamic = torch.export.Dim.DYNAMIC
    program = torch.export.export(
        module.eval(),
        (torch.rand(2, 3, 64, 64),),
        dynamic_shapes=({0: dynamic, 2: dynamic, 3: dynamic},),
    )
    torch.export.save(program, path)
    return path


def demo_entries_ensure(
    *, challenge: Challenge, organizer: AbstractBaseUser, password: str, steps: int
) -> list:
    """Submit every demo entry that is not there yet; returns the new submissions."""
    live = Submission.objects.filter(phase__challenge=challenge).exclude(
        status__in=[Submission.Status.FAILED, Submission.Status.CANCELLED]
    )
    present = set(live.values_list("participant__username", "description"))
    submitted = []
    with tempfile.TemporaryDirectory(prefix="atelier-demo-entries-") as folder:
        programs = [
            (organizer, IDENTITY_DESCRIPTION, IdentityGenerator(), True),
            (organizer, BLUR_DESCRIPTION, BlurGenerator(), True),
        ]
        dana = _demo_participant(challenge, FLAT_PARTICIPANT, password)
        programs.append((dana, FLAT_DESCRIPTION, FlatGenerator(_style_colour(challenge)), False))
        for user, description, module, baseline in programs:
            if (user.username, description) in present:
                continue
            path = program_write(module, Path(folder) / f"{type(module).__name__}.pt2")
            submitted.append(
                _submit(challenge, user, path, "exported", "0-1", description, baseline)
            )
        submitted += _trained_entries(challenge, password, steps, present, Path(folder))
    return submitted


def _trained_entries(
    challenge: Challenge, password: str, steps: int, present: set, folder: Path
) -> list:
    """One trainer run, resumed from length to length, submitted by each trained participant."""
    lengths = {name: max(1, round(steps * share)) for name, share in TRAINED_PARTICIPANTS}
    submitted = []
    run = folder / "run"
    for name, length in sorted(lengths.items(), key=lambda item: item[1]):
        settings = baseline_settings(
            challenge=challenge,
            steps=length,
            width=TRAINING_WIDTH,
            crop=TRAINING_CROP,
            batch_size=TRAINING_BATCH_SIZE,
        )
        description = TRAINED_DESCRIPTION.format(
            architecture=settings.architecture, width=settings.width, steps=length
        )
        user = _demo_participant(challenge, name, password)
        if (name, description) in present:
            continue
        logger.info("training the demo entry of %s: %d steps", name, length)
        result = baseline_train(challenge=challenge, settings=settings, output_dir=run, resume=True)
        assert result.checkpoint is not None
        copy = folder / f"{name}.safetensors"
        copy.write_bytes(result.checkpoint.read_bytes())
        submitted.append(
            _submit(
                challenge,
                user,
                copy,
                result.architecture,
                str(result.io_range),
                description,
                baseline=False,
            )
        )
    return submitted


def _demo_participant(challenge: Challenge, name: str, password: str) -> AbstractBaseUser:
    user = demo_user_ensure(username=name, password=password, email=f"{name}@atelier.local")
    if not Participation.objects.filter(user=user, challenge=challenge).exists():
        participation_join(user=user, challenge=challenge, accept_rules=True)
    return user


def _style_colour(challenge: Challenge) -> torch.Tensor:
    """The mean colour of the challenge's public style images."""
    styles = challenge.images.filter(
        kind=ChallengeImage.Kind.STYLE, split=ChallengeImage.Split.PUBLIC
    ).order_by("sha256")
    return images_load(list(styles)).mean(dim=(0, 2, 3))


def _submit(
    challenge: Challenge,
    user: AbstractBaseUser,
    path: Path,
    architecture: str,
    io_range: str,
    description: str,
    baseline: bool,
) -> object:
    return submission_create(
        user=user,
        challenge=challenge,
        checkpoint_path=path,
        checkpoint_name=path.name,
        architecture=architecture,
        io_range=io_range,
        description=description,
        is_baseline=baseline,
    )
