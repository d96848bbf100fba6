"""Hostile input to the submission pages: a config nested 100,000 deep is a form error and a
page number that is no number is page 1, never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from competitions.models import Challenge
from competitions.services import participation_join
from config.parsing import JSON_TOO_DEEP
from submissions.forms import CONFIG_NOT_JSON
from submissions.models import Submission

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(challenge: Challenge, participant: User) -> Client:
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    client = Client()
    client.force_login(participant)
    return client


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ("[" * 100_000 + "]" * 100_000, JSON_TOO_DEEP.format(limit=64)),
        ('{"width": ', "This is not valid JSON: Expecting value (line 1, column 10)."),
        ("[16]", CONFIG_NOT_JSON),
    ],
)
def test_a_bad_config_is_a_form_error(
    web: Client, challenge: Challenge, tiny_checkpoint: Path, config: str, error: str
) -> None:
    with tiny_checkpoint.open("rb") as handle:
        response = web.post(
            reverse("challenge_submit", args=[challenge.slug]),
            {"checkpoint": handle, "architecture": "transformer_net", "config": config},
        )
    assert response.status_code == 200
    assert response.context["form"].errors["config"] == [error]
    assert escape(error) in response.content.decode()
    assert not Submission.objects.exists()


@pytest.mark.parametrize("page", ["²", "١٢", "9" * 5000, "-1", "0", ""])
def test_my_submissions_with_a_page_that_is_no_number_is_page_one(
    web: Client, challenge: Challenge, page: str
) -> None:
    response = web.get(reverse("my_submissions", args=[challenge.slug]), {"page": page})
    assert response.status_code == 200
    assert response.context["page"].number == 1
