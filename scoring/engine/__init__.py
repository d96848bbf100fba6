"""The scoring engine: metrics, the judge and the reference cache, in PyTorch and SciPy only.

No Django here: the `scoring` app stores profiles and results and calls these from its tasks.
See README.md in this folder for the metric definitions and how a task uses the engine.
"""

from __future__ import annotations

from scoring.engine.errors import ErrorCode, ScoringError
from scoring.engine.images import png_decode, png_encode, tensor_sha256
from scoring.engine.intervals import bootstrap_intervals
from scoring.engine.judge import Judge
from scoring.engine.judge_training import (
    HeldOut,
    JudgeSettings,
    JudgeTrainingResult,
    judge_check,
    judge_train,
)
from scoring.engine.judge_training import gate_failure as judge_gate_failure
from scoring.engine.metrics import METRIC_DIRECTIONS, METRICS, Direction
from scoring.engine.network import ENGINE_VERSION, Fingerprint, MetricNetwork
from scoring.engine.references import (
    References,
    ReferenceSpec,
    TaskKind,
    references_build,
    references_key,
    references_stale,
)
from scoring.engine.scorer import GalleryImage, Scorer, ScoreResult, composite_of

__all__ = [
    "ENGINE_VERSION",
    "METRICS",
    "METRIC_DIRECTIONS",
    "Direction",
    "ErrorCode",
    "Fingerprint",
    "GalleryImage",
    "HeldOut",
    "Judge",
    "JudgeSettings",
    "JudgeTrainingResult",
    "MetricNetwork",
    "ReferenceSpec",
    "References",
    "ScoreResult",
    "Scorer",
    "ScoringError",
    "TaskKind",
    "bootstrap_intervals",
    "composite_of",
    "judge_check",
    "judge_gate_failure",
    "judge_train",
    "png_decode",
    "png_encode",
    "references_build",
    "references_key",
    "references_stale",
    "tensor_sha256",
]
