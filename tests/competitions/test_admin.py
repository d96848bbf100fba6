"""The admin as the organizers' tool, and who sees what in it."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from competitions import errors
from competitions.bundles import errors as bundle_errors
from competitions.models import MARKDOWN_TOO_LONG, Challenge, ChallengeImage, Participation
from competitions.services import participation_join
from tests.competitions.bundle_helpers import good_bundle_files, write_zip
from tests.factories import UserFactory, image_bytes, make_challenge

pytestmark = pytest.mark.django_db


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def changelist(model: str) -> str:
    return reverse(f"admin:competitions_{model}_changelist")


def test_organizer_of_a_cannot_see_b(
    challenge: Challenge, other_challenge: Challenge, organizer
) -> None:
    client = admin_client(organizer)
    page = client.get(changelist("challenge")).content.decode()
    assert "Challenge A" in page
    assert "Challenge B" not in page

    foreign = client.get(reverse("admin:competitions_challenge_change", args=[other_challenge.pk]))
    assert foreign.status_code == 302  # the admin's "does not exist" redirect
    assert (
        client.get(reverse("admin:competitions_challenge_change", args=[challenge.pk])).status_code
        == 200
    )


def test_organizer_sees_only_their_images_and_filter_choices(
    challenge: Challenge, other_challenge: Challenge, organizer
) -> None:
    client = admin_client(organizer)
    page = client.get(changelist("challengeimage")).content.decode()
    own = challenge.images.count()
    assert f"{own} challenge images" in page
    assert "Challenge B" not in page  # not in rows, not in the filter sidebar
    foreign = other_challenge.images.first()
    response = client.get(reverse("admin:competitions_challengeimage_change", args=[foreign.pk]))
    assert response.status_code == 302


def test_organizer_sees_only_their_participants(
    challenge: Challenge, other_challenge: Challenge, organizer
) -> None:
    mine = UserFactory(username="mine")
    theirs = UserFactory(username="theirs")
    participation_join(user=mine, challenge=challenge, accept_rules=True)
    participation_join(user=theirs, challenge=other_challenge, accept_rules=True)
    page = admin_client(organizer).get(changelist("participation")).content.decode()
    assert ">mine<" in page
    assert ">theirs<" not in page


def test_superuser_sees_every_challenge(
    challenge: Challenge, other_challenge: Challenge, superuser
) -> None:
    page = admin_client(superuser).get(changelist("challenge")).content.decode()
    assert "Challenge A" in page
    assert "Challenge B" in page


def test_participants_and_plain_staff_cannot_use_the_organizer_admin(
    challenge: Challenge, participant
) -> None:
    response = admin_client(participant).get(changelist("challenge"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    staff = UserFactory(username="helpdesk", is_staff=True)
    assert admin_client(staff).get(changelist("challenge")).status_code == 403


def test_image_counts_and_thumbnails_are_shown(challenge: Challenge, organizer) -> None:
    client = admin_client(organizer)
    change = client.get(
        reverse("admin:competitions_challenge_change", args=[challenge.pk])
    ).content.decode()
    assert "content / hidden</a>: 3" in change
    assert "on the public leaderboard: 1, on the private: 2" in change
    images = client.get(changelist("challengeimage")).content.decode()
    hidden = challenge.images.filter(split="hidden").first()
    thumb = reverse("challenge_image", kwargs={"slug": challenge.slug, "pk": hidden.pk})
    assert f"{thumb}?thumb=1" in images
    response = client.get(thumb + "?thumb=1")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"


def test_publish_and_archive_actions(organizer) -> None:
    ready = make_challenge(slug="ready", organizers=(organizer,), status="draft")
    empty = make_challenge(slug="empty", organizers=(organizer,), status="draft", content_hidden=0)
    client = admin_client(organizer)
    page = client.post(
        changelist("challenge"),
        {"action": "publish", "_selected_action": [ready.pk, empty.pk]},
        follow=True,
    ).content.decode()
    ready.refresh_from_db()
    empty.refresh_from_db()
    assert ready.status == Challenge.Status.PUBLISHED
    assert empty.status == Challenge.Status.DRAFT
    assert "Ready: published." in page
    assert "Empty: The challenge cannot be published yet" in page

    client.post(changelist("challenge"), {"action": "archive", "_selected_action": [ready.pk]})
    ready.refresh_from_db()
    assert ready.status == Challenge.Status.ARCHIVED


def test_approval_actions(organizer) -> None:
    challenge = make_challenge(slug="curated", organizers=(organizer,), registration="approval")
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    first = participation_join(user=alice, challenge=challenge, accept_rules=True)
    second = participation_join(user=bob, challenge=challenge, accept_rules=True)
    client = admin_client(organizer)
    client.post(changelist("participation"), {"action": "approve", "_selected_action": [first.pk]})
    client.post(changelist("participation"), {"action": "ban", "_selected_action": [second.pk]})
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Participation.Status.APPROVED
    assert first.decided_by == organizer
    assert second.status == Participation.Status.BANNED


def test_organizer_creating_a_challenge_organizes_it(organizer) -> None:
    client = admin_client(organizer)
    response = client.post(
        reverse("admin:competitions_challenge_add"),
        {
            "title": "Made Here",
            "slug": "made-here",
            "summary": "",
            "task_kind": "single_style",
            "resolution": 64,
            "public_fraction": 0.3,
            "registration": "open",
            "description": "",
            "rules": "",
            "phases-TOTAL_FORMS": 1,
            "phases-INITIAL_FORMS": 0,
            "phases-0-name": "Only",
            "phases-0-starts_at_0": "2026-01-01",
            "phases-0-starts_at_1": "00:00:00",
            "phases-0-ends_at_0": "2026-12-31",
            "phases-0-ends_at_1": "00:00:00",
            "phases-0-max_per_day": 5,
            "phases-0-max_total": 100,
            "phases-0-max_running": 1,
            "phases-0-time_limit_s": 600,
            "phases-0-max_params": 1000000,
            "phases-0-max_checkpoint_bytes": 1000000,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    made = Challenge.objects.get(slug="made-here")
    assert list(made.organizers.all()) == [organizer]
    assert made.status == Challenge.Status.DRAFT
    assert made.phases.get().name == "Only"


def test_resolution_is_locked_once_images_exist(challenge: Challenge, organizer) -> None:
    client = admin_client(organizer)
    url = reverse("admin:competitions_challenge_change", args=[challenge.pk])
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(
        {
            "resolution": 64,
            "organizers": [organizer.pk],
            "phases-TOTAL_FORMS": 0,
            "phases-INITIAL_FORMS": 0,
        }
    )
    response = client.post(url, data)
    assert response.status_code == 200
    assert errors.RESOLUTION_LOCKED[1] in response.content.decode()
    challenge.refresh_from_db()
    assert challenge.resolution == 32


def test_adding_an_image_in_the_admin_normalises_it(challenge: Challenge, organizer) -> None:
    client = admin_client(organizer)
    upload = SimpleUploadedFile("extra.png", image_bytes(31337, size=(80, 50)))
    response = client.post(
        reverse("admin:competitions_challengeimage_add"),
        {"challenge": challenge.pk, "kind": "content", "split": "hidden", "upload": upload},
    )
    assert response.status_code == 302
    image = challenge.images.get(original_name="extra.png")
    assert image.leaderboard in {"public", "private"}
    assert challenge.images.filter(leaderboard="public").count() == 1


def test_admin_refuses_a_bad_image_with_its_name(challenge: Challenge, organizer) -> None:
    client = admin_client(organizer)
    before = ChallengeImage.objects.count()
    response = client.post(
        reverse("admin:competitions_challengeimage_add"),
        {
            "challenge": challenge.pk,
            "kind": "content",
            "split": "public",
            "upload": SimpleUploadedFile("notes.png", b"definitely not a png"),
        },
    )
    assert response.status_code == 200
    assert errors.NOT_AN_IMAGE[1].format(name="notes.png") in response.content.decode()
    assert ChallengeImage.objects.count() == before


def test_organizer_cannot_add_images_to_a_foreign_challenge(
    other_challenge: Challenge, organizer
) -> None:
    before = other_challenge.images.count()
    response = admin_client(organizer).post(
        reverse("admin:competitions_challengeimage_add"),
        {
            "challenge": other_challenge.pk,
            "kind": "content",
            "split": "public",
            "upload": SimpleUploadedFile("x.png", image_bytes(8)),
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert other_challenge.images.count() == before


def test_bundle_upload_in_the_admin(tmp_path: Path, organizer) -> None:
    client = admin_client(organizer)
    url = reverse("admin:competitions_challenge_import")
    assert "Import bundle" in client.get(changelist("challenge")).content.decode()
    assert client.get(url).status_code == 200
    archive = write_zip(tmp_path / "b.zip", good_bundle_files())
    with archive.open("rb") as handle:
        response = client.post(url, {"bundle": handle})
    challenge = Challenge.objects.get(slug="from-bundle")
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:competitions_challenge_change", args=[challenge.pk]
    )
    assert list(challenge.organizers.all()) == [organizer]


def test_bad_bundle_upload_shows_the_reason_and_imports_nothing(tmp_path: Path, organizer) -> None:
    files = good_bundle_files()
    del files["challenge.toml"]
    archive = write_zip(tmp_path / "b.zip", files)
    response = admin_client(organizer).post(
        reverse("admin:competitions_challenge_import"),
        {"bundle": io.BytesIO(archive.read_bytes())},
    )
    assert response.status_code == 200
    assert (
        f"{bundle_errors.MISSING_MANIFEST[1]} [bundle_missing_manifest]"
        in response.content.decode()
    )
    assert not Challenge.objects.exists()


def test_plain_participant_cannot_reach_the_import_form(participant) -> None:
    response = admin_client(participant).get(reverse("admin:competitions_challenge_import"))
    assert response.status_code == 302


# --- Hostile values -------------------------------------------------------------------------


def challenge_add_form(**changes: object) -> dict[str, object]:
    """The admin's add form for a challenge with one phase, with some values changed."""
    data: dict[str, object] = {
        "title": "Made Here",
        "slug": "made-here",
        "summary": "",
        "task_kind": "single_style",
        "resolution": 64,
        "public_fraction": 0.3,
        "registration": "open",
        "description": "",
        "rules": "",
        "phases-TOTAL_FORMS": 1,
        "phases-INITIAL_FORMS": 0,
        "phases-0-name": "Only",
        "phases-0-starts_at_0": "2026-01-01",
        "phases-0-starts_at_1": "00:00:00",
        "phases-0-ends_at_0": "2026-12-31",
        "phases-0-ends_at_1": "00:00:00",
        "phases-0-max_per_day": 5,
        "phases-0-max_total": 100,
        "phases-0-max_running": 1,
        "phases-0-time_limit_s": 600,
        "phases-0-max_params": 1000000,
        "phases-0-max_checkpoint_bytes": 1000000,
    }
    data.update(changes)
    return data


def phase_errors(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    (phases,) = response.context["inline_admin_formsets"]
    return phases.formset.errors[0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time_limit_s", 10**15),
        ("time_limit_s", 0),
        ("max_per_day", 10**6 + 1),
        ("max_params", 10**12),
        ("max_checkpoint_bytes", 2**62),
        ("max_selected", 101),
    ],
)
def test_admin_refuses_phase_numbers_out_of_bounds_naming_the_field(
    organizer, field: str, value: int
) -> None:
    response = admin_client(organizer).post(
        reverse("admin:competitions_challenge_add"),
        challenge_add_form(**{f"phases-0-{field}": value}),
    )
    assert response.status_code == 200
    assert list(phase_errors(response)) == [field]
    assert not Challenge.objects.exists()


def test_admin_number_inputs_carry_the_models_bounds(organizer, settings) -> None:
    settings.ATELIER_MAX_TIME_LIMIT_S = 3_600
    page = admin_client(organizer).get(reverse("admin:competitions_challenge_add"))
    (time_limit,) = re.findall(r"<input [^>]*time_limit_s[^>]*>", page.content.decode())
    assert 'min="1" max="3600"' in time_limit


def test_admin_refuses_a_date_that_leaves_the_range_in_utc(organizer, settings) -> None:
    # The admin reads dates in the site's time zone: late 9999 in Hawaii is year 10000 in UTC.
    settings.TIME_ZONE = "Pacific/Honolulu"
    response = admin_client(organizer).post(
        reverse("admin:competitions_challenge_add"),
        challenge_add_form(**{"phases-0-ends_at_0": "9999-12-31", "phases-0-ends_at_1": "23:00"}),
    )
    assert response.status_code == 200
    assert list(phase_errors(response)) == ["ends_at"]
    assert "years 1 to 9999 once converted to UTC" in phase_errors(response)["ends_at"][0]
    assert not Challenge.objects.exists()


def test_admin_refuses_markdown_over_the_limit(organizer, settings) -> None:
    settings.ATELIER_MARKDOWN_MAX_CHARS = 100
    response = admin_client(organizer).post(
        reverse("admin:competitions_challenge_add"), challenge_add_form(rules="r" * 101)
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "rules": [MARKDOWN_TOO_LONG.format(limit=100, length=101)]
    }
    assert not Challenge.objects.exists()


def test_admin_stores_the_rendered_markdown(organizer) -> None:
    response = admin_client(organizer).post(
        reverse("admin:competitions_challenge_add"),
        challenge_add_form(description="# Hi <img src=x onerror=alert(1)>"),
    )
    assert response.status_code == 302
    assert Challenge.objects.get().description_html == '<h1>Hi <img src="x"></h1>'


def test_bundle_with_a_date_out_of_range_shows_the_reason_and_imports_nothing(
    tmp_path: Path, organizer
) -> None:
    files = good_bundle_files()
    files["challenge.toml"] = files["challenge.toml"].replace(
        b"ends_at = 2026-06-30T23:59:59Z", b'ends_at = "9999-12-31T23:59:59-10:00"'
    )
    archive = write_zip(tmp_path / "b.zip", files)
    response = admin_client(organizer).post(
        reverse("admin:competitions_challenge_import"),
        {"bundle": io.BytesIO(archive.read_bytes())},
    )
    assert response.status_code == 200
    assert (
        "challenge.toml: `ends_at` in phase 1 is outside the dates this site can store "
        "(years 1 to 9999 in UTC) (got &#x27;9999-12-31T23:59:59-10:00&#x27;). "
        "[bundle_invalid_manifest]"
    ) in response.content.decode()
    assert not Challenge.objects.exists()


def test_bundle_with_a_huge_time_limit_shows_the_reason(tmp_path: Path, organizer) -> None:
    files = good_bundle_files()
    files["challenge.toml"] = files["challenge.toml"].replace(
        b"time_limit_s = 300", b"time_limit_s = 1000000000000000"
    )
    archive = write_zip(tmp_path / "b.zip", files)
    response = admin_client(organizer).post(
        reverse("admin:competitions_challenge_import"),
        {"bundle": io.BytesIO(archive.read_bytes())},
    )
    assert response.status_code == 200
    assert "`time_limit_s` in phase 1 must be at most" in response.content.decode()
    assert not Challenge.objects.exists()
