"""The bounds of what an organizer may set: full_clean() refuses anything outside them, so
every write path (admin, bundle importer, services) does."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from pytest_django.fixtures import Settings

from competitions import models
from competitions.models import MAX_COUNT, MAX_SELECTED, Challenge, Phase
from config.markdown import PARAGRAPH_MAX_CHARS, PARAGRAPH_TOO_LONG

pytestmark = pytest.mark.django_db

HAWAII = dt.timezone(dt.timedelta(hours=-10))


def refusal(instance: Challenge | Phase) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()
    return caught.value.message_dict


@pytest.fixture
def limits(settings: Settings) -> Settings:
    """Limits other than the defaults, to show they are read from the settings."""
    settings.ATELIER_MAX_TIME_LIMIT_S = 3_600
    settings.ATELIER_MAX_GENERATOR_PARAMS = 50_000_000
    settings.ATELIER_MAX_UPLOAD_BYTES = 500 * 1024 * 1024
    settings.ATELIER_MARKDOWN_MAX_CHARS = 1_000
    return settings


@pytest.mark.parametrize(
    ("field", "highest"),
    [
        ("max_per_day", MAX_COUNT),
        ("max_total", MAX_COUNT),
        ("max_running", MAX_COUNT),
        ("time_limit_s", 3_600),
        ("max_params", 50_000_000),
        ("max_checkpoint_bytes", 500 * 1024 * 1024),
        ("max_selected", MAX_SELECTED),
    ],
)
def test_phase_numbers_are_bounded(challenge: Challenge, limits, field: str, highest: int) -> None:
    phase = challenge.phases.get()
    for accepted in (1, highest):
        setattr(phase, field, accepted)
        phase.full_clean()
    for refused in (0, highest + 1, 10**15):
        setattr(phase, field, refused)
        assert list(refusal(phase)) == [field], refused


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ends_at", dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=HAWAII)),
        ("starts_at", dt.datetime(1, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))),
        ("private_revealed_at", dt.datetime(9999, 12, 31, 20, tzinfo=HAWAII)),
    ],
)
def test_phase_dates_must_stay_within_range_in_utc(
    challenge: Challenge, field: str, value: dt.datetime
) -> None:
    phase = challenge.phases.get()
    setattr(phase, field, value)
    assert refusal(phase) == {
        field: [models.DATE_OUT_OF_RANGE % {"value": value.isoformat()}],
    }


def test_the_last_storable_moment_is_accepted_and_stored(challenge: Challenge) -> None:
    phase = challenge.phases.get()
    phase.ends_at = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    phase.full_clean()
    phase.save()
    phase.refresh_from_db()
    assert phase.ends_at.year == 9999


def test_naive_dates_are_checked_in_the_sites_time_zone(
    challenge: Challenge, settings: Settings
) -> None:
    settings.TIME_ZONE = "Pacific/Honolulu"
    phase = challenge.phases.get()
    phase.ends_at = dt.datetime(9999, 12, 31, 23, 0)
    assert list(refusal(phase)) == ["ends_at"]


@pytest.mark.parametrize("field", ["description", "rules"])
def test_markdown_texts_are_bounded(challenge: Challenge, limits, field: str) -> None:
    setattr(challenge, field, "a" * 1_000)
    challenge.full_clean()
    setattr(challenge, field, "a" * 1_001)
    assert refusal(challenge) == {
        field: [models.MARKDOWN_TOO_LONG.format(limit=1_000, length=1_001)],
    }


def test_markdown_too_complex_to_render_is_refused_with_the_reason(challenge: Challenge) -> None:
    challenge.rules = "x" * (PARAGRAPH_MAX_CHARS + 1)
    assert refusal(challenge) == {
        "rules": [
            PARAGRAPH_TOO_LONG.format(length=PARAGRAPH_MAX_CHARS + 1, limit=PARAGRAPH_MAX_CHARS)
        ],
    }


@pytest.mark.parametrize(("field", "value"), [("title", "Bad\x00title"), ("description", "a\x00")])
def test_null_characters_are_refused(challenge: Challenge, field: str, value: str) -> None:
    setattr(challenge, field, value)
    assert list(refusal(challenge)) == [field]


def test_saving_renders_the_markdown_into_the_stored_html(challenge: Challenge) -> None:
    challenge.description = "## Hello <script>alert(1)</script>"
    challenge.rules = "Be **kind**."
    challenge.save()
    challenge.refresh_from_db()
    assert challenge.description_html == "<h2>Hello </h2>"
    assert challenge.rules_html == "<p>Be <strong>kind</strong>.</p>"


def test_saving_some_fields_renders_only_their_markdown(challenge: Challenge) -> None:
    challenge.rules = "New rules."
    challenge.save(update_fields=["rules"])
    challenge.refresh_from_db()
    assert challenge.rules_html == "<p>New rules.</p>"
    challenge.title = "Renamed"
    challenge.save(update_fields=["title"])
    assert Challenge.objects.get(pk=challenge.pk).rules_html == "<p>New rules.</p>"


def test_text_saved_without_validation_that_cannot_render_is_stored_as_plain_text(
    challenge: Challenge,
) -> None:
    challenge.description = "<b>" + "x" * PARAGRAPH_MAX_CHARS
    challenge.save()
    assert challenge.description_html.startswith("<pre>&lt;b&gt;xxx")
