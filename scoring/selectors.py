"""Reads of scoring: how a challenge is scored, for pages and the API."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from competitions.models import Challenge
from scoring.models import ScoringProfile

COMPOSITE_JUDGED = (
    "(1 + content_distance)·(1 + style_distance ÷ its baseline)·(1 + palette_distance ÷ its "
    "baseline)·(2 − judge_realism)·(1 + 9·memorization_rate); a baseline is the unchanged "
    "photos' distance"
)
COMPOSITE_JUDGE_FREE = (
    "(1 + content_distance)·(1 + style_distance ÷ its baseline)·(1 + palette_distance ÷ its "
    "baseline)·(1 + 9·memorization_rate), the judge-free form; a baseline is the unchanged "
    "photos' distance"
)


def challenge_scoring(*, challenge: Challenge) -> dict[str, Any]:
    """The metric network, the judge's state and check, and the composite's form."""
    profile = ScoringProfile.objects.filter(challenge=challenge).first()
    summary = profile.judge_summary if profile is not None else {}
    status = profile.judge_status if profile is not None else ScoringProfile.JudgeStatus.NONE
    scores = status == ScoringProfile.JudgeStatus.READY
    return {
        "metric_network": {
            "name": "vgg19",
            "calibrated": bool(settings.ATELIER_VGG19_WEIGHTS),
            "seed": None if settings.ATELIER_VGG19_WEIGHTS else settings.ATELIER_VGG19_SEED,
        },
        "judge": {
            "status": status,
            "scores": scores,
            "reason": profile.judge_error if profile is not None else "",
            "uploaded": bool(profile and profile.judge_uploaded),
            "heldout_accuracy": summary.get("heldout_accuracy"),
            "heldout_tiles": summary.get("heldout_tiles"),
            "heldout_by_set": summary.get("heldout_by_set") or {},
            "deception_threshold": profile.judge_threshold if scores and profile else None,
            "min_accuracy": settings.ATELIER_JUDGE_MIN_ACCURACY,
            "min_tiles": settings.ATELIER_JUDGE_MIN_TILES,
        },
        # A challenge that has not trained its judge yet will try to: judged, until it fails.
        "composite": COMPOSITE_JUDGE_FREE
        if status == ScoringProfile.JudgeStatus.FAILED
        else COMPOSITE_JUDGED,
    }
