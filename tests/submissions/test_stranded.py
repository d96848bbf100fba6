"""No setting can strand a submission: a phase or a platform setting no worker can honour
fails the submission with a stable code after the configured attempts, run as the worker and
the dispatcher run it, and the participant's running quota is released."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from competitions.models import Challenge, Phase
from competitions.services import participation_join
from scoring import run
from scoring.run import TIME_LIMIT_BOUNDS_S, TIME_LIMIT_OUT_OF_RANGE
from submissions import lifecycle
from submissions.lifecycle import (
    INFRASTRUCTURE_FAILURE,
    LONGEST_SPAN,
    PHASE_MISCONFIGURED,
    submission_claim,
    submission_score,
    submissions_dispatch,
    submissions_reap,
)
from submissions.models import Submission
from submissions.selectors import quota_usage
from submissions.services import submission_create

pytestmark = pytest.mark.django_db(transaction=True)
# More rounds than any submission needs: one that is still queued after them is stranded.
ROUNDS = 10
# Past the runner's poll() and far past any real phase; fits PostgreSQL's integer column.
TOO_LONG_S = 10**9


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids handed to the broker, in order: the test is the worker that takes them."""
    messages: list[str] = []

    def apply_async(args: list[str], queue: str) -> None:
        assert queue == "scoring"
        messages.extend(args)

    monkeypatch.setattr(lifecycle.score, "apply_async", apply_async)
    return messages


@pytest.fixture
def joined(challenge: Challenge, participant) -> Challenge:
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    return challenge


@pytest.fixture
def submit(joined: Challenge, participant, tiny_checkpoint: Path) -> Callable[[], Submission]:
    def create() -> Submission:
        return submission_create(
            user=participant,
            challenge=joined,
            checkpoint_path=tiny_checkpoint,
            checkpoint_name=tiny_checkpoint.name,
            architecture="transformer_net",
        )

    return create


def work_until_settled(sent: list[str], submission: Submission) -> list[str]:
    """Deliver every message to the scoring task, then let the dispatcher send what is still
    queued, round after round, as a worker and celery beat would; returns the task results."""
    results = []
    for _ in range(ROUNDS):
        while sent:
            results.append(lifecycle.score.apply(args=[sent.pop(0)], throw=True).get())
        submission.refresh_from_db()
        if submission.status != Submission.Status.QUEUED:
            return results
        # Requeued attempts wait for the dispatcher's next round (enqueued_at is cleared).
        submissions_dispatch()
    raise AssertionError(f"still queued after {ROUNDS} rounds: {results}")


def assert_running_quota_released(submission: Submission, submit: Callable[[], Submission]):
    usage = quota_usage(participant=submission.participant, phase=submission.phase)
    assert usage.running == 0
    # The phase allows one running submission at a time: the next one is accepted.
    assert submit().status == Submission.Status.QUEUED


@pytest.mark.parametrize(
    "time_limit_s",
    [
        10**15,  # beyond timedelta: the claim used to raise OverflowError, every round
        TOO_LONG_S,  # a valid timedelta, but the runner's poll() cannot wait that long
        0,  # every generator would "take longer than 0 s", blamed on the participant
    ],
)
def test_a_phase_time_limit_no_worker_can_honour_fails_after_the_attempts(
    submit, sent: list[str], settings, time_limit_s: int
) -> None:
    if time_limit_s > 2**31 - 1 and connection.vendor != "sqlite":
        pytest.skip("only SQLite's integer column holds it")
    settings.ATELIER_SCORING_MAX_ATTEMPTS = 3
    submission = submit()
    Phase.objects.filter(pk=submission.phase_id).update(time_limit_s=time_limit_s)

    results = work_until_settled(sent, submission)

    assert results == ["requeued", "requeued", "failed: phase_misconfigured"]
    assert (submission.status, submission.error_code) == ("failed", "phase_misconfigured")
    low, high = TIME_LIMIT_BOUNDS_S
    problem = TIME_LIMIT_OUT_OF_RANGE.format(limit=time_limit_s, low=low, high=high)
    assert submission.error_message == PHASE_MISCONFIGURED.format(attempts=3, problem=problem)
    assert (submission.attempts, submission.deadline) == (3, None)
    assert [entry["code"] for entry in submission.log if entry["step"] == "error"] == [
        "phase_misconfigured"
    ] * 3
    # The participant and the organizers are told, once.
    assert [message.subject for message in mail.outbox] == [
        "Your submission to Challenge A failed",
        "Scoring failed on the platform's side: Challenge A",
    ]
    assert "its time limit of" in mail.outbox[0].body
    assert submissions_dispatch() == 0
    assert not sent
    assert_running_quota_released(submission, submit)


def test_an_organizer_who_fixes_the_phase_in_time_gets_it_scored_on_a_later_attempt(
    submit, sent: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    submission = submit()
    Phase.objects.filter(pk=submission.phase_id).update(time_limit_s=TOO_LONG_S)
    assert submission_score(submission_id=str(submission.pk), worker="w") == "requeued"

    Phase.objects.filter(pk=submission.phase_id).update(time_limit_s=600)
    # The scoring itself is not under test here, only that the next attempt gets to it.
    prepared = []

    def prepare(challenge: Challenge, attempt: lifecycle.Attempt) -> list:
        prepared.append(attempt.number)
        return []

    monkeypatch.setattr(run, "_prepare", prepare)
    monkeypatch.setattr(run, "run_generator", lambda *args, **kwargs: iter(()))
    monkeypatch.setattr(lifecycle, "submission_record", lambda *args: None)
    assert submission_score(submission_id=str(submission.pk), worker="w") == "scored"
    assert prepared == [2]


def test_an_unexpected_error_while_setting_up_fails_after_the_attempts(
    submit, sent: list[str], settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ATELIER_SCORING_MAX_ATTEMPTS = 2

    def broken(*args: object) -> None:
        raise ValueError("the scoring profile holds nonsense")

    monkeypatch.setattr(run, "_prepare", broken)
    submission = submit()

    assert work_until_settled(sent, submission) == ["requeued", "failed: scoring_error"]
    assert (submission.status, submission.error_code) == ("failed", "scoring_error")
    assert submission.error_message == INFRASTRUCTURE_FAILURE.format(attempts=2)
    assert "the scoring profile holds nonsense" in submission.log[-1]["error"]
    assert_running_quota_released(submission, submit)


def test_a_heartbeat_thread_that_cannot_start_goes_through_the_same_path(
    submit, sent: list[str], settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was an UnboundLocalError: the handlers used `attempt` before `with ... as` had bound it.
    settings.ATELIER_SCORING_MAX_ATTEMPTS = 2

    def no_thread(self: lifecycle.Attempt) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(lifecycle.Attempt, "__enter__", no_thread)
    submission = submit()

    assert work_until_settled(sent, submission) == ["requeued", "failed: scoring_error"]
    assert submission.error_code == "scoring_error"
    assert_running_quota_released(submission, submit)


@pytest.mark.parametrize("max_attempts", [0, 1])
def test_a_queued_submission_past_a_lowered_attempt_limit_still_gets_its_last_attempt(
    submit, sent: list[str], settings, max_attempts: int
) -> None:
    submission = submit()
    # Requeued after two attempts under the old limit of 3, then the limit was lowered.
    Submission.objects.filter(pk=submission.pk).update(attempts=2)
    Phase.objects.filter(pk=submission.phase_id).update(time_limit_s=TOO_LONG_S)
    settings.ATELIER_SCORING_MAX_ATTEMPTS = max_attempts

    assert work_until_settled(sent, submission) == ["failed: phase_misconfigured"]
    assert (submission.status, submission.attempts) == ("failed", 3)
    assert_running_quota_released(submission, submit)


def test_huge_platform_spans_neither_break_the_claim_nor_the_reaper_nor_the_dispatcher(
    submit, sent: list[str], settings
) -> None:
    settings.ATELIER_HEARTBEAT_TIMEOUT_S = 10**15
    settings.ATELIER_DEADLINE_GRACE_S = 10**15
    settings.ATELIER_DISPATCH_AFTER_S = 10**15
    submission = submit()
    Submission.objects.filter(pk=submission.pk).update(enqueued_at=None)

    assert submissions_dispatch() == 1
    before = timezone.now()
    claimed = submission_claim(submission_id=str(submission.pk), worker="w")
    assert claimed is not None
    assert before < claimed.deadline <= timezone.now() + LONGEST_SPAN
    assert submissions_reap() == {"requeued": 0, "failed": 0}
    # Past its (clamped) deadline the reaper still finds it.
    later = claimed.deadline + dt.timedelta(seconds=1)
    assert submissions_reap(now=later) == {"requeued": 1, "failed": 0}
