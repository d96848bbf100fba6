"""Private-leaderboard numbers never reach a participant or a visitor before the reveal: not in
pages, the API, CSV or emails; after the organizers reveal an ended phase, they do."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from competitions.models import Challenge, Phase
from competitions.services import phase_reveal
from submissions.models import Submission
from submissions.notifications import notify_participant
from tests.leaderboard.helpers import joined, scored

pytestmark = pytest.mark.django_db

# Distinctive private numbers, and every way a page, the API or a CSV could print them.
PRIVATE = {"composite": 0.913712345, "content_distance": 0.271828182, "judge_realism": 0.161803398}
TRACES = ("0.9137", "0.2718", "0.1618", "913712", "271828", "161803")


def leaks(text: str) -> list[str]:
    return [trace for trace in TRACES if trace in text]


@pytest.fixture
def phase(challenge: Challenge) -> Phase:
    return challenge.phases.get()


@pytest.fixture
def submission(phase: Phase, challenge: Challenge) -> Submission:
    ada = joined(challenge, "ada")
    joined(challenge, "bob")
    return scored(phase, ada, public={"composite": 2.0}, private=PRIVATE)


def viewers(challenge: Challenge) -> dict[str, tuple[Client, APIClient]]:
    """Anonymous, the submitting participant and another participant: web and API clients."""
    clients = {"anonymous": (Client(), APIClient())}
    for name in ("ada", "bob"):
        user = challenge.participations.get(user__username=name).user
        web, api = Client(), APIClient()
        web.force_login(user)
        api.force_authenticate(user)
        clients[name] = (web, api)
    return clients


def end_phase(phase: Phase) -> None:
    Phase.objects.filter(pk=phase.pk).update(
        starts_at=timezone.now() - dt.timedelta(days=30),
        ends_at=timezone.now() - dt.timedelta(minutes=1),
    )
    phase.refresh_from_db()


def test_private_numbers_reach_nobody_but_organizers_before_the_reveal(
    challenge: Challenge, phase: Phase, submission: Submission
) -> None:
    page = reverse("challenge_leaderboard", args=[challenge.slug])
    api = reverse("api_leaderboard", args=[challenge.slug])
    export = reverse("leaderboard_csv", args=[challenge.slug])
    for who, (web, client) in viewers(challenge).items():
        public = web.get(page)
        assert public.status_code == 200
        assert "ada" in public.content.decode()
        assert leaks(public.content.decode()) == [], who
        private = web.get(page, {"board": "private"})
        assert private.status_code == 403
        assert leaks(private.content.decode()) == [], who
        assert leaks(client.get(api, {"board": "public"}).content.decode()) == [], who
        denied = client.get(api, {"board": "private"})
        assert denied.status_code == 403
        assert leaks(denied.content.decode()) == [], who
        csv = web.get(export, {"board": "private"})
        assert csv.status_code == 403
        assert leaks(csv.content.decode()) == [], who


def test_the_participant_never_sees_their_own_private_numbers_before_the_reveal(
    challenge: Challenge, phase: Phase, submission: Submission
) -> None:
    end_phase(phase)  # ended, but not revealed: still hidden
    web, api = viewers(challenge)["ada"]
    detail = web.get(submission.get_absolute_url()).content.decode()
    assert "Public leaderboard" in detail
    assert leaks(detail) == []
    status = web.get(reverse("submission_status", args=[submission.pk])).json()
    assert list(status["scores"]) == ["public"]
    body = api.get(reverse("api_submission_detail", args=[submission.pk])).json()
    assert list(body["scores"]) == ["public"]
    assert leaks(str(body)) == []


def test_emails_never_carry_private_numbers(submission: Submission, phase: Phase) -> None:
    notify_participant(submission_id=submission.pk)
    end_phase(phase)
    phase_reveal(phase=phase)
    notify_participant(submission_id=submission.pk)
    assert len(mail.outbox) == 2
    for message in mail.outbox:
        assert message.to == ["ada@example.org"]
        assert leaks(message.subject + message.body) == []


def test_everyone_sees_the_private_numbers_after_the_reveal(
    challenge: Challenge, phase: Phase, submission: Submission
) -> None:
    end_phase(phase)
    phase_reveal(phase=phase)
    page = reverse("challenge_leaderboard", args=[challenge.slug])
    api = reverse("api_leaderboard", args=[challenge.slug])
    for who, (web, client) in viewers(challenge).items():
        private = web.get(page, {"board": "private"})
        assert private.status_code == 200
        assert "0.9137" in private.content.decode(), who
        body = client.get(api, {"board": "private"}).json()
        assert body["entries"][0]["scores"]["composite"] == PRIVATE["composite"], who
    web, client = viewers(challenge)["ada"]
    assert "0.9137" in web.get(submission.get_absolute_url()).content.decode()
    body = client.get(reverse("api_submission_detail", args=[submission.pk])).json()
    assert body["scores"]["private"]["composite"] == PRIVATE["composite"]


def test_a_reveal_flag_before_the_end_reveals_nothing(
    challenge: Challenge, phase: Phase, submission: Submission
) -> None:
    Phase.objects.filter(pk=phase.pk).update(private_revealed_at=timezone.now())
    web, _ = viewers(challenge)["bob"]
    page = reverse("challenge_leaderboard", args=[challenge.slug])
    assert web.get(page, {"board": "private"}).status_code == 403


def test_organizers_always_see_the_private_leaderboard(
    challenge: Challenge, phase: Phase, submission: Submission, organizer
) -> None:
    web, client = Client(), APIClient()
    web.force_login(organizer)
    client.force_authenticate(organizer)
    page = web.get(reverse("challenge_leaderboard", args=[challenge.slug]), {"board": "private"})
    assert "0.9137" in page.content.decode()
    assert "Organizers only" in page.content.decode()
    body = client.get(reverse("api_leaderboard", args=[challenge.slug]), {"board": "private"})
    assert body.json()["entries"][0]["scores"]["composite"] == PRIVATE["composite"]
    export = web.get(reverse("leaderboard_csv", args=[challenge.slug]), {"board": "private"})
    assert "0.913712345" in export.content.decode()
