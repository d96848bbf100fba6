"""Scoring one checkpoint on a challenge: run its generator, score the outputs as they stream.

No submission here: the caller (the lifecycle in `submissions.lifecycle`) claims the row,
passes the stored checkpoint as a local file and records what this returns. `Progress` is how
a long run reports its stage and learns that it should stop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from django.conf import settings

from competitions.models import Challenge, ChallengeImage, Phase
from models.loading import CheckpointSpec
from models.runner import RunLimits, RunStats, run_generator
from scoring import engine
from scoring.services import (
    BoardRun,
    board_scorers,
    images_load,
    judge_train,
    metric_network,
    scoring_profile_get,
)

TIME_LIMIT_OUT_OF_RANGE = (
    "its time limit of {limit} s is outside the {low}–{high} s a scoring worker can honour"
)
# The generator's time limits a worker can honour. The runner waits for its child with poll(),
# whose timeout in milliseconds must fit a C int (about 24.8 days); a week is far longer than
# any generator should run, and safely inside that.
TIME_LIMIT_BOUNDS_S = (1, 7 * 24 * 3600)


class PhaseMisconfigured(Exception):
    """The phase asks for something no worker can do: the organizers' to fix, not the
    participant's."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class Progress(Protocol):
    """What a run reports to, and asks whether to go on."""

    def progress(self, stage: str, fraction: float, *, force: bool = False) -> None:
        """Record the stage reached; raises when the work should stop."""

    def check(self) -> None:
        """Raises when the work should stop."""

    def step(self, name: str, started: float, **details: Any) -> None:
        """Note a finished step and how long it took since `started` (perf_counter)."""


# (content photo, its style image or None, where its output goes: (board, index) or gallery)
PlanRow = tuple[ChallengeImage, ChallengeImage | None, tuple[str, int]]


@dataclass
class Outcome:
    results: dict[str, engine.ScoreResult]
    gallery: list[tuple[ChallengeImage, ChallengeImage | None, bytes]] = field(default_factory=list)


def checkpoint_score(
    *, phase: Phase, checkpoint: CheckpointSpec, param_count: int, progress: Progress
) -> Outcome:
    """Prepare the references, run the generator and score its outputs as they stream in."""
    challenge: Challenge = phase.challenge
    time_limit_s = _time_limit_s(phase)
    runs = _prepare(challenge, progress)
    gallery = _gallery_images(challenge, scoring_profile_get(challenge=challenge).gallery_size)
    plan = _plan(runs, gallery)
    outcome = Outcome(results={})
    started = time.perf_counter()
    stats = RunStats()
    done, before = 0, 0.0
    outputs_stream = run_generator(
        checkpoint,
        *_batches(challenge, plan),
        limits=RunLimits(
            time_limit_s=time_limit_s,
            memory_limit_bytes=settings.ATELIER_GENERATOR_MEMORY_BYTES,
            device=settings.ATELIER_SCORING_DEVICE,
            checkpoint=phase.checkpoint_limits(),
        ),
        stats=stats,
    )
    for outputs in outputs_stream:
        rows = plan[done : done + outputs.shape[0]]
        _score_rows(runs, rows, outputs, stats.forward_seconds - before, outcome)
        before = stats.forward_seconds
        done += outputs.shape[0]
        progress.progress(f"generating {done}/{len(plan)}", 0.9 * done / len(plan))
    progress.step("generated and scored", started, device=stats.device, images=len(plan))
    progress.progress("scoring", 0.95, force=True)
    for run in runs:
        outcome.results[run.board.leaderboard] = run.scorer.finish(
            generator_seconds=run.seconds, params=param_count
        )
    return outcome


def _time_limit_s(phase: Phase) -> int:
    """The phase's time limit, checked before any work: the database may hold one (imported,
    or written before the model had bounds) that no worker can honour."""
    low, high = TIME_LIMIT_BOUNDS_S
    if not low <= phase.time_limit_s <= high:
        raise PhaseMisconfigured(
            TIME_LIMIT_OUT_OF_RANGE.format(limit=phase.time_limit_s, low=low, high=high)
        )
    return phase.time_limit_s


def _prepare(challenge: Challenge, progress: Progress) -> list[BoardRun]:
    """The metric network, the judge (trained first if there is none) and both boards' caches."""
    device = settings.ATELIER_SCORING_DEVICE
    profile = scoring_profile_get(challenge=challenge)
    started = time.perf_counter()
    progress.progress("preparing references", 0.0, force=True)
    network = metric_network(device)
    # A failed judge stays failed until an organizer retrains or replaces it.
    if profile.judge_status != profile.JudgeStatus.FAILED and not profile.judge_file:
        progress.progress("training the judge", 0.0, force=True)
        profile = judge_train(challenge=challenge, device=device, heartbeat=progress.check)
        progress.step("judge trained", started, status=profile.judge_status)
    runs = board_scorers(challenge=challenge, network=network, device=device, check=progress.check)
    progress.step("references ready", started)
    return runs


def _batches(
    challenge: Challenge, plan: list[PlanRow]
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    size = settings.ATELIER_SCORING_BATCH_SIZE
    content = images_load([image for image, _, _ in plan])
    if challenge.task_kind != Challenge.TaskKind.ARBITRARY_STYLE:
        return list(torch.split(content, size)), None
    style = images_load([style for _, style, _ in plan])  # type: ignore[misc]
    return list(torch.split(content, size)), list(torch.split(style, size))


def _gallery_images(
    challenge: Challenge, size: int
) -> list[tuple[ChallengeImage, ChallengeImage | None]]:
    public = challenge.images.filter(split=ChallengeImage.Split.PUBLIC).order_by("sha256")
    photos = list(public.filter(kind=ChallengeImage.Kind.CONTENT)[:size])
    styles = list(public.filter(kind=ChallengeImage.Kind.STYLE))
    return [
        (photo, styles[index % len(styles)] if styles else None)
        for index, photo in enumerate(photos)
    ]


def _plan(
    runs: list[BoardRun], gallery: list[tuple[ChallengeImage, ChallengeImage | None]]
) -> list[PlanRow]:
    """Every image the generator sees, with where its output goes: (board, index) or gallery."""
    plan: list[PlanRow] = []
    for run in runs:
        board = run.board
        for index, image in enumerate(board.content):
            style = board.styles[board.style_pairing[index]] if board.style_pairing else None
            plan.append((image, style, (board.leaderboard, index)))
    for position, (photo, style) in enumerate(gallery):
        plan.append((photo, style, ("gallery", position)))
    return plan


def _score_rows(
    runs: list[BoardRun],
    rows: list[PlanRow],
    outputs: torch.Tensor,
    seconds: float,
    outcome: Outcome,
) -> None:
    """Hand each output to its board's scorer or to the gallery; time is shared per image."""
    per_image = seconds / max(len(rows), 1)
    for run in runs:
        picked = [i for i, (_, _, (where, _)) in enumerate(rows) if where == run.board.leaderboard]
        if picked:
            run.scorer.update([rows[i][2][1] for i in picked], outputs[picked])
            run.seconds += per_image * len(picked)
    for i, (photo, style, (where, _)) in enumerate(rows):
        if where == "gallery":
            outcome.gallery.append((photo, style, engine.png_encode(outputs[i])))
