"""Materialised entries: recomputed when a result lands, a rule changes, a submission is
disqualified or a participant banned; incremental updates equal full recomputes."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest
from django.utils import timezone

from competitions import errors as competition_errors
from competitions.models import Challenge, Participation, Phase
from competitions.services import participation_decide, phase_hide, phase_reveal
from config.errors import ApplicationError
from leaderboard import errors, selectors, services
from leaderboard.models import LeaderboardEntry, LeaderboardSummary
from leaderboard.services import (
    leaderboard_participant_refresh,
    leaderboard_recompute,
    participation_leaderboards_refresh,
    submission_disqualify,
    submission_final_select,
    submission_requalify,
)
from scoring.models import Result
from submissions.models import Submission
from tests.leaderboard.helpers import joined, scored

pytestmark = pytest.mark.django_db


@pytest.fixture
def phase(challenge: Challenge) -> Phase:
    return challenge.phases.get()


def board_of(phase: Phase, board: str = "public") -> list[tuple[int | None, str, str]]:
    """(rank, participant, submission description) in board order."""
    return [
        (row.rank, row.participant, row.description)
        for row in selectors.leaderboard_rows(phase=phase, board=board)
    ]


def snapshot(phase: Phase) -> tuple[list[tuple], list[tuple]]:
    entries = sorted(
        (
            entry.leaderboard,
            str(entry.submission_id),
            entry.participant_id,
            entry.result_id,
            entry.selection,
            entry.score,
            bytes(entry.sort_key),
            entry.submission_count,
            entry.last_submitted_at,
        )
        for entry in LeaderboardEntry.objects.filter(phase=phase)
    )
    summaries = sorted(
        (s.leaderboard, s.history, s.baselines, s.rule)
        for s in LeaderboardSummary.objects.filter(phase=phase)
    )
    return entries, summaries


def set_rule(phase: Phase, **fields: object) -> None:
    for name, value in fields.items():
        setattr(phase, name, value)
    phase.full_clean()
    phase.save()
    leaderboard_recompute(phase=phase)


# --- Results landing -------------------------------------------------------------------------


def test_a_scored_submission_appears_on_both_leaderboards(phase: Phase, challenge) -> None:
    ada = joined(challenge, "ada")
    scored(phase, ada, public={"composite": 2.0}, private={"composite": 3.0}, description="x")
    assert board_of(phase, "public") == [(1, "ada", "x")]
    assert board_of(phase, "private") == [(1, "ada", "x")]
    public = LeaderboardEntry.objects.get(phase=phase, leaderboard="public")
    private = LeaderboardEntry.objects.get(phase=phase, leaderboard="private")
    assert (public.score, private.score) == (2.0, 3.0)


def test_ranks_skip_baselines_and_ties_go_to_the_earlier_submission(phase, challenge) -> None:
    ada, bob, cy = (joined(challenge, name) for name in ("ada", "bob", "cy"))
    organizer = challenge.organizers.get()
    scored(phase, bob, public={"composite": 1.0}, minute=5, description="bob")
    scored(phase, ada, public={"composite": 1.0}, minute=1, description="ada")
    scored(phase, organizer, public={"composite": 0.5}, baseline=True, description="identity")
    scored(phase, cy, public={"composite": 2.0}, minute=0, description="cy")
    assert board_of(phase) == [
        (None, "organizer-a", "identity"),
        (1, "ada", "ada"),
        (2, "bob", "bob"),
        (3, "cy", "cy"),
    ]
    order = selectors.board_order(phase=phase, board="public")
    assert [slot.rank for slot in order if slot.participant_id == cy.pk] == [3]


def test_missing_and_non_finite_values_rank_below_complete_ones(phase, challenge) -> None:
    ada, bob, cy = (joined(challenge, name) for name in ("ada", "bob", "cy"))
    scored(phase, ada, public={"composite": 0.1, "judge_fd": None}, description="no fd")
    scored(phase, bob, public={"composite": math.inf}, description="inf")
    scored(phase, cy, public={"composite": 50.0}, description="complete")
    assert [row[2] for row in board_of(phase)] == ["complete", "no fd", "inf"]


def test_stale_results_still_rank(phase, challenge) -> None:
    ada = joined(challenge, "ada")
    scored(phase, ada, public={"composite": 1.0}, stale=True)
    [row] = selectors.leaderboard_rows(phase=phase, board="public")
    assert row.rank == 1
    assert row.stale


def test_sorting_by_a_metric_puts_missing_values_last_in_both_directions(phase, challenge) -> None:
    for name, value in (("ada", 0.2), ("bob", None), ("cy", 0.9)):
        scored(phase, joined(challenge, name), public={"judge_realism": value})
    by = {
        sort: [
            row.participant
            for row in selectors.leaderboard_rows(phase=phase, board="public", sort=sort)
        ]
        for sort in ("judge_realism", "-judge_realism")
    }
    assert by == {"judge_realism": ["cy", "ada", "bob"], "-judge_realism": ["ada", "cy", "bob"]}


# --- Incremental updates equal full recomputes -----------------------------------------------


RULES = [
    {"ranking_rule": "composite"},
    {"ranking_rule": "primary", "ranking_metrics": "judge_realism, content_distance"},
    {"ranking_rule": "weighted", "ranking_metrics": "style_distance:2, deception_rate"},
    {"ranking_rule": "average_rank", "ranking_metrics": "style_distance, judge_realism"},
]


@pytest.mark.parametrize("rule", RULES, ids=[rule["ranking_rule"] for rule in RULES])
@pytest.mark.parametrize("representation", ["best", "latest", "selected"])
def test_every_update_leaves_what_a_full_recompute_would(
    phase: Phase, challenge, rule: dict, representation: str
) -> None:
    set_rule(phase, representation=representation, max_selected=2, **rule)
    rng = random.Random(f"{rule}{representation}")
    people = [joined(challenge, f"p{index}") for index in range(4)]
    organizer = challenge.organizers.get()

    def value() -> float | None:
        return rng.choice([None, math.nan, *(round(rng.random(), 2) for _ in range(8))])

    for minute in range(14):
        user = rng.choice(people)
        baseline = minute % 7 == 3
        scored(
            phase,
            organizer if baseline else user,
            minute=rng.randrange(100),
            baseline=baseline,
            selected=not baseline and rng.random() < 0.3,
            public={name: value() for name in ("composite", "judge_realism", "style_distance")},
            private={name: value() for name in ("composite", "judge_realism", "content_distance")},
        )
        incremental = snapshot(phase)
        leaderboard_recompute(phase=phase)
        assert snapshot(phase) == incremental, minute


def test_a_worse_rescore_of_the_record_holder_redraws_the_chart(phase, challenge) -> None:
    ada, bob = joined(challenge, "ada"), joined(challenge, "bob")
    scored(phase, bob, public={"composite": 2.0}, minute=0)
    best = scored(phase, ada, public={"composite": 1.0}, minute=1)
    summary = LeaderboardSummary.objects.get(phase=phase, leaderboard="public")
    assert [point[1] for point in summary.history] == [2.0, 1.0]
    Result.objects.filter(submission=best).update(composite=3.0)
    services.leaderboard_submission_update(submission_id=best.pk)
    summary.refresh_from_db()
    assert [point[1] for point in summary.history] == [2.0]
    assert [row[1] for row in board_of(phase)] == ["bob", "ada"]


def test_a_changed_rule_left_unrecomputed_is_caught_by_the_next_update(phase, challenge) -> None:
    ada, bob = joined(challenge, "ada"), joined(challenge, "bob")
    scored(phase, ada, public={"composite": 1.0, "judge_realism": 0.1})
    Phase.objects.filter(pk=phase.pk).update(
        ranking_rule="primary", ranking_metrics="judge_realism"
    )
    scored(phase, bob, public={"composite": 2.0, "judge_realism": 0.9})
    assert [row[1] for row in board_of(phase)] == ["bob", "ada"]


# --- Disqualification and bans ---------------------------------------------------------------


def test_a_disqualified_submission_never_appears(phase, challenge, organizer) -> None:
    ada, bob = joined(challenge, "ada"), joined(challenge, "bob")
    cheat = scored(phase, ada, public={"composite": 0.1}, minute=1, description="cheat")
    scored(phase, ada, public={"composite": 3.0}, minute=2, description="honest")
    scored(phase, bob, public={"composite": 2.0}, minute=0, description="bob")
    submission_disqualify(submission=cheat, reason="Trained on the test photos.", by=organizer)
    assert board_of(phase) == [(1, "bob", "bob"), (2, "ada", "honest")]
    summary = LeaderboardSummary.objects.get(phase=phase, leaderboard="public")
    assert [point[1] for point in summary.history] == [2.0]
    with pytest.raises(ApplicationError) as error:
        submission_disqualify(submission=cheat, reason="again", by=organizer)
    assert error.value.message == errors.ALREADY_DISQUALIFIED[1]

    submission_requalify(submission=cheat)
    assert board_of(phase)[0] == (1, "ada", "cheat")


def test_a_disqualified_baseline_leaves_the_chart_references(phase, challenge, organizer) -> None:
    baseline = scored(phase, organizer, public={"composite": 1.5}, baseline=True, description="b")
    summary = LeaderboardSummary.objects.get(phase=phase, leaderboard="public")
    assert summary.baselines == [["b", 1.5]]
    submission_disqualify(submission=baseline, reason="Wrong checkpoint.", by=organizer)
    summary.refresh_from_db()
    assert summary.baselines == []
    assert not LeaderboardEntry.objects.exists()


def test_a_banned_participant_leaves_the_leaderboards_and_returns_when_approved(
    phase, challenge, organizer
) -> None:
    ada, bob = joined(challenge, "ada"), joined(challenge, "bob")
    scored(phase, ada, public={"composite": 1.0})
    scored(phase, bob, public={"composite": 2.0})
    participation = Participation.objects.get(user=ada, challenge=challenge)

    participation_decide(participation=participation, status="banned", decided_by=organizer)
    participation_leaderboards_refresh(participation=participation)
    assert [row[:2] for row in board_of(phase)] == [(1, "bob")]
    assert [row[:2] for row in board_of(phase, "private")] == [(1, "bob")]

    participation_decide(participation=participation, status="approved", decided_by=organizer)
    participation_leaderboards_refresh(participation=participation)
    assert [row[:2] for row in board_of(phase)] == [(1, "ada"), (2, "bob")]


def test_a_full_recompute_also_leaves_banned_participants_out(phase, challenge, organizer) -> None:
    ada = joined(challenge, "ada")
    scored(phase, ada, public={"composite": 1.0})
    Participation.objects.filter(user=ada).update(status=Participation.Status.BANNED)
    leaderboard_recompute(phase=phase)
    assert board_of(phase) == []


# --- Representation --------------------------------------------------------------------------


def test_latest_representation_after_a_rule_change(phase, challenge) -> None:
    ada = joined(challenge, "ada")
    scored(phase, ada, public={"composite": 1.0}, minute=0, description="good")
    scored(phase, ada, public={"composite": 5.0}, minute=9, description="latest")
    assert board_of(phase)[0][2] == "good"
    set_rule(phase, representation="latest")
    assert board_of(phase)[0][2] == "latest"
    [row] = selectors.leaderboard_rows(phase=phase, board="public")
    assert (row.submission_count, row.selection) == (2, "latest")


def test_selected_representation_with_and_without_a_selection(phase, challenge) -> None:
    set_rule(phase, representation="selected", max_selected=1)
    ada = joined(challenge, "ada")
    best_public = scored(
        phase, ada, public={"composite": 1.0}, private={"composite": 9.0}, description="p"
    )
    best_private = scored(
        phase, ada, public={"composite": 5.0}, private={"composite": 0.5}, description="q"
    )
    # Nothing selected: the one best public submission stands in, on both boards.
    assert [(row[2]) for row in board_of(phase, "private")] == ["p"]
    assert LeaderboardEntry.objects.filter(selection="auto").count() == 2

    submission_final_select(submission=best_private, user=ada, selected=True)
    assert [(row[2]) for row in board_of(phase, "private")] == ["q"]
    assert [(row[2]) for row in board_of(phase, "public")] == ["q"]
    with pytest.raises(ApplicationError) as error:
        submission_final_select(submission=best_public, user=ada, selected=True)
    assert error.value.message == errors.SELECT_LIMIT[1].format(limit=1)

    submission_final_select(submission=best_private, user=ada, selected=False)
    assert [(row[2]) for row in board_of(phase, "private")] == ["p"]


# --- Selecting for the final ranking ---------------------------------------------------------


@pytest.fixture
def selecting(phase: Phase) -> Phase:
    set_rule(phase, representation="selected", max_selected=2)
    return phase


def test_only_the_participant_selects_their_own_submission(selecting, challenge) -> None:
    ada, bob = joined(challenge, "ada"), joined(challenge, "bob")
    submission = scored(selecting, ada)
    with pytest.raises(ApplicationError) as error:
        submission_final_select(submission=submission, user=bob, selected=True)
    assert error.value.code == "selection_not_yours"


def test_selection_needs_a_scored_submission(selecting, challenge) -> None:
    ada = joined(challenge, "ada")
    submission = scored(selecting, ada)
    Submission.objects.filter(pk=submission.pk).update(status=Submission.Status.QUEUED)
    submission.refresh_from_db()
    with pytest.raises(ApplicationError) as error:
        submission_final_select(submission=submission, user=ada, selected=True)
    assert error.value.message == errors.SELECT_NOT_SCORED[1]


def test_selection_closes_with_the_phase(selecting, challenge) -> None:
    ada = joined(challenge, "ada")
    submission = scored(selecting, ada)
    Phase.objects.filter(pk=selecting.pk).update(ends_at=timezone.now() - dt.timedelta(seconds=1))
    submission.refresh_from_db()
    with pytest.raises(ApplicationError) as error:
        submission_final_select(submission=submission, user=ada, selected=False)
    assert error.value.message == errors.SELECT_CLOSED[1].format(phase="Development")


def test_selection_is_refused_where_the_phase_does_not_use_it(phase, challenge) -> None:
    ada = joined(challenge, "ada")
    submission = scored(phase, ada)
    with pytest.raises(ApplicationError) as error:
        submission_final_select(submission=submission, user=ada, selected=True)
    assert error.value.message == errors.SELECT_NOT_USED[1].format(
        phase="Development", representation="best submission"
    )


def test_disqualified_submissions_cannot_be_selected_nor_count(
    selecting, challenge, organizer
) -> None:
    ada = joined(challenge, "ada")
    first, second, third = (scored(selecting, ada, minute=i) for i in range(3))
    submission_final_select(submission=first, user=ada, selected=True)
    submission_final_select(submission=second, user=ada, selected=True)
    submission_disqualify(submission=second, reason="No.", by=organizer)
    with pytest.raises(ApplicationError) as error:
        submission_final_select(submission=second, user=ada, selected=True)
    assert error.value.message == errors.SELECT_DISQUALIFIED[1]
    submission_final_select(submission=third, user=ada, selected=True)
    assert [row[2] for row in board_of(selecting)] == [""]
    [entry] = LeaderboardEntry.objects.filter(leaderboard="public")
    assert entry.submission_id == first.pk


def test_baselines_cannot_be_selected(selecting, challenge, organizer) -> None:
    baseline = scored(selecting, organizer, baseline=True)
    with pytest.raises(ApplicationError) as error:
        submission_final_select(submission=baseline, user=organizer, selected=True)
    assert error.value.message == errors.SELECT_BASELINE[1]


# --- Revealing the private leaderboard -------------------------------------------------------


def test_the_private_leaderboard_is_revealed_only_after_the_phase(phase) -> None:
    with pytest.raises(ApplicationError) as error:
        phase_reveal(phase=phase)
    assert error.value.message == competition_errors.NOT_ENDED[1].format(phase="Development")
    assert not phase.private_revealed

    phase.ends_at = timezone.now() - dt.timedelta(minutes=1)
    phase.save()
    phase_reveal(phase=phase)
    phase.refresh_from_db()
    assert phase.private_revealed
    phase_hide(phase=phase)
    phase.refresh_from_db()
    assert not phase.private_revealed


def test_participant_refresh_without_results_writes_nothing(phase, challenge) -> None:
    ada = joined(challenge, "ada")
    leaderboard_participant_refresh(phase=phase, participant=ada)
    assert not LeaderboardEntry.objects.exists()
    assert LeaderboardSummary.objects.filter(phase=phase).count() == 2
