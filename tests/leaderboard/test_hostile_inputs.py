"""Hostile input to the leaderboard pages: page numbers that are no numbers, and participant
names that a spreadsheet would run as formulas in the organizers' CSV export."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from competitions.models import Challenge, Phase
from leaderboard import selectors
from tests.leaderboard.helpers import joined, scored

pytestmark = pytest.mark.django_db


@pytest.fixture
def phase(challenge: Challenge) -> Phase:
    return challenge.phases.get()


def shown_page(challenge: Challenge, page: str) -> int:
    response = Client().get(reverse("challenge_leaderboard", args=[challenge.slug]), {"page": page})
    assert response.status_code == 200
    return response.context["view"].page


@pytest.fixture
def three_pages(phase: Phase, challenge: Challenge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    for index in range(5):
        scored(phase, joined(challenge, f"p{index}"), public={"composite": float(index)})


@pytest.mark.parametrize("page", ["²", "١٢", "9" * 5000, "-1", "0", " 2", "2.0", ""])
@pytest.mark.usefixtures("three_pages")
def test_a_page_that_is_no_number_shows_page_one(challenge: Challenge, page: str) -> None:
    assert shown_page(challenge, page) == 1


@pytest.mark.usefixtures("three_pages")
def test_valid_pages_behave_as_before(challenge: Challenge) -> None:
    assert shown_page(challenge, "2") == 2
    # Past the end: the last page.
    assert shown_page(challenge, "999999999") == 3


def test_the_csv_escapes_names_a_spreadsheet_would_run(
    phase: Phase, challenge: Challenge, organizer
) -> None:
    for name, composite in (("=cmd|' /C calc'!A0", -0.5), ("-x", 1.0), ("@at", 2.0)):
        scored(phase, joined(challenge, name), public={"composite": composite})
    client = Client()
    client.force_login(organizer)
    response = client.get(reverse("leaderboard_csv", args=[challenge.slug]))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["participant"] for row in rows] == ["'=cmd|' /C calc'!A0", "'-x", "'@at"]
    # Our own numbers are written as numbers, a negative one too.
    assert [row["composite"] for row in rows] == ["-0.5", "1.0", "2.0"]
