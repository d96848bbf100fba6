"""Hand-made scored submissions for leaderboard tests (no generator, no scoring run)."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import User

from competitions.models import Challenge, Phase
from competitions.services import participation_join
from leaderboard.services import leaderboard_submission_update
from scoring.engine import METRICS
from scoring.models import Result
from submissions.models import Submission
from tests.factories import UserFactory

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def joined(challenge: Challenge, username: str) -> User:
    """A new user who joined the (open) challenge."""
    user = UserFactory(username=username)
    participation_join(user=user, challenge=challenge, accept_rules=True)
    return user


def scores(**values: float | None) -> dict[str, float | None]:
    """Every metric 1.0 unless given."""
    full: dict[str, float | None] = dict.fromkeys(METRICS, 1.0)
    full.update(values)
    return full


def scored(
    phase: Phase,
    user: User,
    *,
    public: dict[str, float | None] | None = None,
    private: dict[str, float | None] | None = None,
    minute: int = 0,
    baseline: bool = False,
    selected: bool = False,
    calibrated: bool = True,
    stale: bool = False,
    description: str = "",
    update: bool = True,
    intervals: dict[str, list[float]] | None = None,
    private_intervals: dict[str, list[float]] | None = None,
    per_image: dict[str, list[float]] | None = None,
) -> Submission:
    """A scored submission with the given results, recorded as the pipeline records them:
    results, then `leaderboard_submission_update` once they are committed. Intervals (and
    per-image values) are stored as given, none by default, as for results scored before
    intervals existed; the private ones are the public ones unless given."""
    submission = Submission.objects.create(
        phase=phase,
        participant=user,
        is_baseline=baseline,
        selected_for_final=selected,
        description=description,
        architecture="transformer_net",
        io_range="0-255",
        checkpoint=f"submissions/{user.username}.safetensors",
        checkpoint_name=f"{user.username}.safetensors",
        checkpoint_format="safetensors",
        checkpoint_sha256="0" * 64,
        checkpoint_size=1,
        param_count=1000,
        status=Submission.Status.SCORED,
        stage="scored",
        progress=1.0,
    )
    # created_at is auto_now_add: set the submission time afterwards.
    submission.created_at = T0 + dt.timedelta(minutes=minute)
    Submission.objects.filter(pk=submission.pk).update(created_at=submission.created_at)
    public_scores = scores(**(public or {}))
    private_scores = scores(**private) if private else public_scores
    boards = {
        "public": (public_scores, intervals),
        "private": (private_scores, private_intervals or intervals),
    }
    for board, (values, bounds) in boards.items():
        Result.objects.create(
            submission=submission,
            leaderboard=board,
            references_key="references",
            images=1,
            calibrated=calibrated,
            stale=stale,
            intervals=bounds or {},
            per_image=per_image or {},
            **values,
        )
    if update:
        leaderboard_submission_update(submission_id=submission.pk)
    return submission
