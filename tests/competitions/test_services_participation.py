"""Joining challenges: open registration, approval, bans, and the rules."""

from __future__ import annotations

import pytest

from competitions import errors
from competitions.models import Challenge, Participation
from competitions.services import participation_decide, participation_join
from config.errors import ApplicationError
from tests.factories import make_challenge

pytestmark = pytest.mark.django_db


def test_participant_joins_open_challenge_at_once(challenge: Challenge, participant) -> None:
    participation = participation_join(user=participant, challenge=challenge, accept_rules=True)
    assert participation.status == Participation.Status.APPROVED
    assert participation.rules_accepted_at is not None
    assert participation.decided_at is not None


def test_participant_waits_for_approval_where_required(organizer, participant) -> None:
    challenge = make_challenge(slug="approval", organizers=(organizer,), registration="approval")
    participation = participation_join(user=participant, challenge=challenge, accept_rules=True)
    assert participation.status == Participation.Status.PENDING

    participation_decide(participation=participation, status="approved", decided_by=organizer)
    participation.refresh_from_db()
    assert participation.status == Participation.Status.APPROVED
    assert participation.decided_by == organizer


def test_joining_without_accepting_the_rules_is_refused(challenge: Challenge, participant) -> None:
    with pytest.raises(ApplicationError) as caught:
        participation_join(user=participant, challenge=challenge, accept_rules=False)
    assert (caught.value.code, caught.value.message) == (
        "join_rules_not_accepted",
        errors.JOIN_RULES[1],
    )
    assert not Participation.objects.exists()


def test_joining_twice_returns_the_same_participation(challenge: Challenge, participant) -> None:
    first = participation_join(user=participant, challenge=challenge, accept_rules=True)
    second = participation_join(user=participant, challenge=challenge, accept_rules=True)
    assert first.pk == second.pk
    assert Participation.objects.count() == 1


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_unpublished_challenges_cannot_be_joined(organizer, participant, status: str) -> None:
    challenge = make_challenge(slug=f"c-{status}", organizers=(organizer,), status=status)
    with pytest.raises(ApplicationError) as caught:
        participation_join(user=participant, challenge=challenge, accept_rules=True)
    assert (caught.value.code, caught.value.message) == ("join_closed", errors.JOIN_CLOSED[1])


@pytest.mark.parametrize(
    ("decision", "code", "message"),
    [
        ("banned", "join_banned", errors.JOIN_BANNED[1]),
        ("rejected", "join_rejected", errors.JOIN_REJECTED[1]),
    ],
)
def test_banned_or_rejected_users_cannot_rejoin(
    challenge: Challenge, organizer, participant, decision: str, code: str, message: str
) -> None:
    participation = participation_join(user=participant, challenge=challenge, accept_rules=True)
    participation_decide(participation=participation, status=decision, decided_by=organizer)
    with pytest.raises(ApplicationError) as caught:
        participation_join(user=participant, challenge=challenge, accept_rules=True)
    assert (caught.value.code, caught.value.message) == (code, message)
    participation.refresh_from_db()
    assert participation.status == decision
