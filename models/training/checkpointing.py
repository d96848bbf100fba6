"""What a training run writes to its output folder, and how a resumed run reads it back.

The checkpoint is the generator's state dict as safetensors, with the architecture, config,
I/O range and settings as JSON in its metadata entry "atelier" (the platform reads only the
tensors and infers the config from their shapes);
`training-state.safetensors` next to it holds the discriminator, both optimisers, the random
state and the loss history, so a resumed run picks up at its last saved step. Both files are
written whole or not at all, and byte for byte the same for the same run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from models.io_range import IORange
from models.training.errors import RESUME_MISMATCH, RESUME_UNREADABLE, TrainingError
from models.training.settings import TrainingSettings

CHECKPOINT_NAME = "checkpoint.safetensors"
STATE_NAME = "training-state.safetensors"
# The one metadata entry of both files: architecture, config, io_range, step, settings.
METADATA_KEY = "atelier"
# Settings a resumed run may change: the budget and how often it reports.
RESUMABLE_CHANGES = {"steps", "sample_every", "checkpoint_every"}

# One step's losses as a JSON object: the state file's loss history is a list of them.
LossRecord = dict[str, float]


@dataclass(frozen=True)
class Resumed:
    """Where a restored run stands: its last saved step and the losses up to it."""

    step: int
    history: list[LossRecord]


def resumable(folder: Path) -> bool:
    """Whether `folder` holds a run to resume (a checkpoint alone is not one)."""
    return (folder / STATE_NAME).exists()


def checkpoint_save(
    folder: Path,
    generator: nn.Module,
    *,
    settings: TrainingSettings,
    config: dict[str, Any],
    io_range: IORange,
    step: int,
) -> Path:
    """The checkpoint the platform accepts: the generator's tensors and what they are."""
    weights = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    checkpoint = folder / CHECKPOINT_NAME
    description = {
        "architecture": settings.architecture,
        "config": config,
        "io_range": str(io_range),
        "step": step,
        "settings": asdict(settings),
    }
    _atomic_save(weights, checkpoint, description)
    return checkpoint


def state_save(
    folder: Path,
    *,
    discriminator: nn.Module,
    generator_optimiser: torch.optim.Optimizer,
    discriminator_optimiser: torch.optim.Optimizer,
    random: torch.Generator,
    settings: TrainingSettings,
    step: int,
    history: list[LossRecord],
) -> None:
    """Everything besides the generator that a resumed run needs to continue exactly."""
    state = {f"discriminator.{k}": v for k, v in discriminator.state_dict().items()}
    state |= _optimiser_tensors("optimiser.generator", generator_optimiser)
    state |= _optimiser_tensors("optimiser.discriminator", discriminator_optimiser)
    state["random"] = random.get_state()
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    _atomic_save(
        state,
        folder / STATE_NAME,
        {"step": step, "settings": asdict(settings), "history": history},
    )


def run_restore(
    folder: Path,
    *,
    settings: TrainingSettings,
    generator: nn.Module,
    discriminator: nn.Module,
    generator_optimiser: torch.optim.Optimizer,
    discriminator_optimiser: torch.optim.Optimizer,
    random: torch.Generator,
) -> Resumed:
    """Load the saved run in `folder` into these networks, optimisers and random generator.

    Refuses a run saved with other settings than `settings`, except those a resumed run may
    change, before anything is loaded.
    """
    try:
        state = safetensors.torch.load_file(folder / STATE_NAME)
        with safetensors.safe_open(folder / STATE_NAME, "pt") as handle:
            metadata = json.loads(handle.metadata()[METADATA_KEY])
        weights = safetensors.torch.load_file(folder / CHECKPOINT_NAME)
        saved = metadata["settings"]
    except (OSError, KeyError, ValueError, safetensors.SafetensorError) as error:
        raise TrainingError(
            "resume_unreadable", RESUME_UNREADABLE.format(folder=folder, problem=error)
        ) from error
    _settings_check(folder, saved, settings)
    generator.load_state_dict(weights)
    discriminator.load_state_dict(
        {
            k.removeprefix("discriminator."): v
            for k, v in state.items()
            if k.startswith("discriminator.")
        }
    )
    _optimiser_restore("optimiser.generator", generator_optimiser, state)
    _optimiser_restore("optimiser.discriminator", discriminator_optimiser, state)
    random.set_state(state["random"])
    return Resumed(step=int(metadata["step"]), history=metadata["history"])


def _settings_check(folder: Path, saved: dict[str, Any], settings: TrainingSettings) -> None:
    current = asdict(settings)
    changed = sorted(k for k in current if saved.get(k) != current[k])
    if set(changed) - RESUMABLE_CHANGES:
        names = ", ".join(name for name in changed if name not in RESUMABLE_CHANGES)
        raise TrainingError("resume_mismatch", RESUME_MISMATCH.format(folder=folder, names=names))


def _optimiser_tensors(prefix: str, optimiser: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    tensors = {}
    for index, values in optimiser.state_dict()["state"].items():
        for name, value in values.items():
            tensors[f"{prefix}.{index}.{name}"] = torch.as_tensor(value)
    return tensors


def _optimiser_restore(
    prefix: str, optimiser: torch.optim.Optimizer, state: dict[str, torch.Tensor]
) -> None:
    """The saved per-parameter state under the optimiser's current parameter groups."""
    entries: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key.startswith(prefix + "."):
            index, name = key[len(prefix) + 1 :].split(".", 1)
            entries.setdefault(int(index), {})[name] = value
    current = optimiser.state_dict()
    optimiser.load_state_dict({"state": entries, "param_groups": current["param_groups"]})


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, description: dict) -> None:
    """Write next to `path` and rename, so an interrupted save never leaves half a file.

    The description is one metadata entry of sorted JSON: safetensors writes several entries in
    hash order, which would make two identical runs' files differ byte for byte.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    metadata = {METADATA_KEY: json.dumps(description, sort_keys=True)}
    safetensors.torch.save_file(tensors, partial, metadata=metadata)
    os.replace(partial, path)
