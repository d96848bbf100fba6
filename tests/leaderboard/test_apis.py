"""The leaderboard in the REST API: entries, anonymous access, errors, paging, selection."""

from __future__ import annotations

import math

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from competitions.models import Challenge, Phase
from scoring.engine import METRICS
from tests.factories import make_challenge
from tests.leaderboard.helpers import joined, scored

pytestmark = pytest.mark.django_db


@pytest.fixture
def phase(challenge: Challenge) -> Phase:
    return challenge.phases.get()


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def url(challenge: Challenge) -> str:
    return reverse("api_leaderboard", args=[challenge.slug])


def test_anonymous_clients_read_the_public_leaderboard(phase, challenge, organizer) -> None:
    ada, bob = joined(challenge, "ada"), joined(challenge, "bob")
    first = scored(phase, ada, public={"composite": 1.0, "judge_fd": math.nan})
    second = scored(phase, bob, public={"composite": 2.0})
    baseline = scored(phase, organizer, public={"composite": 1.5}, baseline=True)
    response = api().get(url(challenge), {"phase": "Development", "board": "public"})
    assert response.status_code == 200
    body = response.json()
    assert [body["challenge"], body["phase"], body["board"]] == [
        "challenge-a",
        "Development",
        "public",
    ]
    assert body["rule"].startswith("Ranked by the default composite score")
    assert (body["count"], body["page"], body["pages"]) == (3, 1, 1)
    entries = body["entries"]
    # ada's better composite comes with a non-finite judge_fd: she ranks after everyone
    # with every value; the baseline is in order but takes no rank.
    assert [(e["rank"], e["participant"], e["is_baseline"]) for e in entries] == [
        (None, "organizer-a", True),
        (1, "bob", False),
        (2, "ada", False),
    ]
    assert [e["submission"] for e in entries] == [str(baseline.pk), str(second.pk), str(first.pk)]
    assert set(entries[1]["scores"]) == set(METRICS)
    assert entries[1]["scores"]["composite"] == 2.0
    # Non-finite numbers are null in JSON (NaN is not JSON).
    assert entries[2]["scores"]["judge_fd"] is None
    assert [e["selection"] for e in entries] == ["baseline", "best", "best"]


def test_the_default_phase_is_the_open_one(phase, challenge) -> None:
    scored(phase, joined(challenge, "ada"))
    body = api().get(url(challenge)).json()
    assert body["phase"] == "Development"
    assert len(body["entries"]) == 1


def test_pages_of_the_api(phase, challenge) -> None:
    for index in range(5):
        scored(phase, joined(challenge, f"p{index}"), public={"composite": float(index)})
    body = api().get(url(challenge), {"page": 2, "page_size": 2}).json()
    assert (body["count"], body["page"], body["pages"]) == (5, 2, 3)
    assert [entry["rank"] for entry in body["entries"]] == [3, 4]


def test_errors_use_the_error_code_style(phase, challenge, organizer) -> None:
    unknown = api().get(url(challenge), {"phase": "Final"})
    assert unknown.status_code == 404
    assert unknown.json()["error_code"] == "not_found"
    invalid = api().get(url(challenge), {"board": "secret"})
    assert invalid.status_code == 400
    assert invalid.json()["error_code"] == "invalid"
    hidden = api().get(url(challenge), {"board": "private"})
    assert hidden.status_code == 403
    assert hidden.json() == {
        "error_code": "permission_denied",
        "detail": "The private leaderboard is revealed by the organizers once the phase has ended.",
    }
    draft = make_challenge(slug="draft", organizers=(organizer,), status="draft")
    assert api().get(url(draft)).status_code == 404
    assert api(organizer).get(url(draft)).status_code == 200


def test_selection_through_the_api(phase, challenge) -> None:
    Phase.objects.filter(pk=phase.pk).update(representation="selected")
    ada = joined(challenge, "ada")
    submission = scored(phase, ada)
    select = reverse("api_submission_final_select", args=[submission.pk])
    response = api(ada).post(select, {"selected": True}, format="json")
    assert response.status_code == 200
    assert response.json() == {"id": str(submission.pk), "selected_for_final": True}
    outsider = joined(challenge, "eve")
    assert api(outsider).post(select, {"selected": True}, format="json").status_code == 404
    assert api().post(select, {"selected": True}, format="json").status_code in (401, 403)


def test_the_schema_documents_the_leaderboard(client) -> None:
    schema = client.get(reverse("api_schema")).content.decode()
    assert "/api/v1/challenges/{slug}/leaderboard/" in schema
    assert "page_size" in schema
