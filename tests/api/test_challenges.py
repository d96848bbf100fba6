"""Challenges in the API: list, detail, phases with quotas, joining."""

from __future__ import annotations

import pytest
from django.urls import reverse

from competitions import errors
from competitions.models import Challenge, Participation
from tests.api.conftest import token_client
from tests.factories import make_challenge

pytestmark = pytest.mark.django_db


def slugs(response) -> list[str]:
    return [row["slug"] for row in response.json()["results"]]


def test_anyone_lists_published_and_archived_challenges_but_not_drafts(
    challenge, other_challenge, outsider
) -> None:
    make_challenge(slug="old", status=Challenge.Status.ARCHIVED)
    make_challenge(slug="secret", status=Challenge.Status.DRAFT)
    for client in (token_client(), token_client(outsider)):
        response = client.get(reverse("api_challenge_list"))
        assert response.status_code == 200
        assert sorted(slugs(response)) == ["challenge-a", "challenge-b", "old"]
        assert response.json()["count"] == 3


def test_organizers_also_list_their_own_drafts(organizer, other_organizer) -> None:
    make_challenge(slug="mine", organizers=(organizer,), status=Challenge.Status.DRAFT)
    make_challenge(slug="theirs", organizers=(other_organizer,), status=Challenge.Status.DRAFT)
    response = token_client(organizer).get(reverse("api_challenge_list"), {"status": "draft"})
    assert slugs(response) == ["mine"]
    assert response.json()["results"][0]["url"] == "/challenges/mine/"


def test_an_unknown_status_filter_is_a_clear_error(challenge) -> None:
    response = token_client().get(reverse("api_challenge_list"), {"status": "everything"})
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "invalid"
    assert "status" in body["fields"]


def test_lists_are_paginated_with_a_bounded_page_size(challenge, other_challenge) -> None:
    client = token_client()
    first = client.get(reverse("api_challenge_list"), {"page_size": 1}).json()
    assert first["count"] == 2
    assert len(first["results"]) == 1
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert second["next"] is None
    assert {*slugs_of(first), *slugs_of(second)} == {"challenge-a", "challenge-b"}
    # Asking for more than the maximum gets at most the maximum, not an error.
    large = client.get(reverse("api_challenge_list"), {"page_size": 10_000})
    assert (large.status_code, len(large.json()["results"])) == (200, 2)
    past = client.get(reverse("api_challenge_list"), {"page": 9})
    assert past.status_code == 404
    assert past.json()["error_code"] == "not_found"


def slugs_of(body: dict) -> list[str]:
    return [row["slug"] for row in body["results"]]


def test_detail_shows_rules_phases_counts_and_the_callers_part(challenge, joined) -> None:
    url = reverse("api_challenge_detail", args=[challenge.slug])
    anonymous = token_client().get(url).json()
    assert anonymous["rules"] == "The rules of challenge-a: be kind."
    assert anonymous["participation"] is None
    assert anonymous["is_organizer"] is False
    assert [phase["name"] for phase in anonymous["phases"]] == ["Development"]
    assert anonymous["phases"][0]["state"] == "open"
    assert anonymous["images"]["content_hidden"] == 3
    mine = token_client(joined).get(url).json()
    assert mine["participation"]["status"] == "approved"
    assert mine["participation"]["challenge"] == "challenge-a"


def test_drafts_are_not_found_except_for_their_organizers(organizer, outsider) -> None:
    make_challenge(slug="secret", organizers=(organizer,), status=Challenge.Status.DRAFT)
    url = reverse("api_challenge_detail", args=["secret"])
    for client in (token_client(), token_client(outsider)):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json() == {"error_code": "not_found", "detail": "Not found."}
    body = token_client(organizer).get(url).json()
    assert (body["status"], body["is_organizer"]) == ("draft", True)


def test_phases_carry_the_participants_quota_and_nobody_elses(challenge, joined, outsider) -> None:
    url = reverse("api_phase_list", args=[challenge.slug])
    phase = token_client(joined).get(url).json()["results"][0]
    assert phase["name"] == "Development"
    assert phase["quota"]["daily_used"] == 0
    assert phase["quota"]["daily_limit"] == 5
    assert phase["private_revealed"] is False
    for client in (token_client(), token_client(outsider)):
        assert client.get(url).json()["results"][0]["quota"] is None


def test_joining_accepts_the_rules(challenge, participant) -> None:
    url = reverse("api_challenge_join", args=[challenge.slug])
    response = token_client(participant).post(url, {"accept_rules": True}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert Participation.objects.get(user=participant, challenge=challenge).is_approved
    again = token_client(participant).post(url, {"accept_rules": True}, format="json")
    assert again.json()["status"] == "approved"
    assert Participation.objects.filter(user=participant).count() == 1


def test_joining_without_accepting_the_rules_is_refused(challenge, participant) -> None:
    url = reverse("api_challenge_join", args=[challenge.slug])
    response = token_client(participant).post(url, {"accept_rules": False}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "error_code": "join_rules_not_accepted",
        "detail": errors.JOIN_RULES[1],
    }
    missing = token_client(participant).post(url, {}, format="json")
    assert missing.status_code == 400
    assert "accept_rules" in missing.json()["fields"]
    assert not Participation.objects.exists()


def test_joining_a_curated_challenge_waits_for_approval(organizer, participant) -> None:
    make_challenge(slug="curated", organizers=(organizer,), registration="approval")
    url = reverse("api_challenge_join", args=["curated"])
    response = token_client(participant).post(url, {"accept_rules": True}, format="json")
    assert response.json()["status"] == "pending"


def test_joining_needs_an_account_and_an_open_challenge(organizer, challenge) -> None:
    url = reverse("api_challenge_join", args=[challenge.slug])
    anonymous = token_client().post(url, {"accept_rules": True}, format="json")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    assert anonymous.json()["error_code"] == "not_authenticated"
    make_challenge(slug="draft", organizers=(organizer,), status=Challenge.Status.DRAFT)
    closed = token_client(organizer).post(
        reverse("api_challenge_join", args=["draft"]), {"accept_rules": True}, format="json"
    )
    assert closed.json() == {"error_code": "join_closed", "detail": errors.JOIN_CLOSED[1]}


def test_a_wrong_token_is_refused_not_treated_as_anonymous(challenge) -> None:
    client = token_client()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    response = client.get(reverse("api_challenge_list"))
    assert response.status_code == 401
    assert response.json() == {"error_code": "authentication_failed", "detail": "Invalid token."}
