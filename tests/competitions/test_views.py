"""The public pages: what anonymous visitors, participants and organizers see and can do."""

from __future__ import annotations

import io
import json
import zipfile

import markdown
import pytest
from django.test import Client
from django.urls import reverse

from competitions.models import Challenge, ChallengeImage, Participation
from competitions.views import DATA_FORBIDDEN
from tests.factories import make_challenge

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def image_url(image: ChallengeImage) -> str:
    return reverse("challenge_image", kwargs={"slug": image.challenge.slug, "pk": image.pk})


# --- Anonymous visitors ---------------------------------------------------------------------


def test_home_lists_published_challenges_only(client: Client, organizer) -> None:
    make_challenge(slug="live", organizers=(organizer,))
    make_challenge(slug="secret-draft", organizers=(organizer,), status="draft")
    page = client.get("/").content.decode()
    assert "Live" in page
    assert "Secret Draft" not in page


def test_anonymous_visitor_reads_every_tab(client: Client, challenge: Challenge) -> None:
    for tab in ("", "rules/", "data/", "phases/"):
        response = client.get(f"/challenges/{challenge.slug}/{tab}")
        assert response.status_code == 200, tab
    data = client.get(f"/challenges/{challenge.slug}/data/").content.decode()
    assert "Log in</a> and join the challenge to download the data" in data
    phases = client.get(f"/challenges/{challenge.slug}/phases/").content.decode()
    assert "Development" in phases
    assert "200.0\xa0MB" in phases


def test_unknown_tab_redirects_to_overview(client: Client, challenge: Challenge) -> None:
    response = client.get(f"/challenges/{challenge.slug}/nonsense/")
    assert response.status_code == 302
    assert response["Location"] == challenge.get_absolute_url()


def test_drafts_are_invisible_to_the_public(client: Client, organizer, outsider) -> None:
    draft = make_challenge(slug="draft", organizers=(organizer,), status="draft")
    assert client.get(draft.get_absolute_url()).status_code == 404
    assert logged_in(outsider).get(draft.get_absolute_url()).status_code == 404
    assert logged_in(organizer).get(draft.get_absolute_url()).status_code == 200


def test_markdown_is_rendered_and_sanitised(client: Client, organizer) -> None:
    challenge = make_challenge(slug="md", organizers=(organizer,))
    challenge.description = (
        "## Hello\n\n<script>alert('x')</script>\n\n"
        '<a href="javascript:alert(1)" onclick="steal()">click</a> [site](https://example.org)\n\n'
        "<iframe src='https://evil.example'></iframe><style>body{}</style>"
    )
    challenge.save()
    page = client.get(challenge.get_absolute_url()).content.decode()
    assert "<h2>Hello</h2>" in page
    assert '<a href="https://example.org" rel="nofollow noopener">site</a>' in page
    for forbidden in ("<script>alert", "javascript:", "onclick", "<iframe", "<style>body"):
        assert forbidden not in page


def test_pages_show_the_stored_html_and_render_no_markdown(
    client: Client, challenge: Challenge, participant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Markdown is rendered when a challenge is saved, never on a page view: a text that is
    slow to render costs its author one save, not every visitor a page."""
    Challenge.objects.filter(pk=challenge.pk).update(
        description="# Changed behind the model's back", rules="**Changed** too"
    )

    def no_rendering(*args: object, **kwargs: object) -> str:
        raise AssertionError("a page rendered markdown")

    monkeypatch.setattr(markdown.Markdown, "convert", no_rendering)
    overview = client.get(challenge.get_absolute_url()).content.decode()
    assert "<h1>challenge-a</h1>" in overview
    assert "Changed" not in overview
    rules = client.get(f"/challenges/{challenge.slug}/rules/").content.decode()
    assert "<p>The rules of challenge-a: be kind.</p>" in rules
    join = logged_in(participant).get(reverse("challenge_join", args=[challenge.slug]))
    assert "<p>The rules of challenge-a: be kind.</p>" in join.content.decode()


def test_anonymous_join_goes_to_login(client: Client, challenge: Challenge) -> None:
    response = client.get(reverse("challenge_join", args=[challenge.slug]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_cannot_download_data_or_photos(client: Client, challenge: Challenge) -> None:
    response = client.get(reverse("challenge_data_download", args=[challenge.slug]))
    assert response.status_code == 302
    photo = challenge.images.filter(kind="content", split="public").first()
    assert client.get(image_url(photo)).status_code == 404


def test_public_style_images_are_shown_to_everyone(client: Client, challenge: Challenge) -> None:
    style = challenge.images.filter(kind="style", split="public").first()
    response = client.get(image_url(style) + "?thumb=1")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"


# --- Participants ---------------------------------------------------------------------------


def test_participant_joins_by_accepting_the_rules(challenge: Challenge, participant) -> None:
    client = logged_in(participant)
    form = client.get(reverse("challenge_join", args=[challenge.slug])).content.decode()
    assert "The rules of challenge-a: be kind." in form

    refused = client.post(reverse("challenge_join", args=[challenge.slug]), {})
    assert refused.status_code == 200
    assert "You need to accept the rules to join." in refused.content.decode()
    assert not Participation.objects.exists()

    joined = client.post(
        reverse("challenge_join", args=[challenge.slug]), {"accept_rules": "on"}, follow=True
    )
    assert "You have joined the challenge. Good luck!" in joined.content.decode()
    assert "You are a participant" in joined.content.decode()
    assert Participation.objects.get().status == Participation.Status.APPROVED


def test_join_with_approval_stays_pending(organizer, participant) -> None:
    challenge = make_challenge(slug="curated", organizers=(organizer,), registration="approval")
    client = logged_in(participant)
    page = client.post(
        reverse("challenge_join", args=[challenge.slug]), {"accept_rules": "on"}, follow=True
    ).content.decode()
    assert "Your request is pending: an organizer will review it." in page
    assert Participation.objects.get().status == Participation.Status.PENDING
    download = client.get(reverse("challenge_data_download", args=[challenge.slug]))
    assert download.status_code == 403
    assert download.content.decode() == DATA_FORBIDDEN


def test_approved_participant_downloads_the_public_split(challenge: Challenge, participant) -> None:
    client = logged_in(participant)
    client.post(reverse("challenge_join", args=[challenge.slug]), {"accept_rules": "on"})
    response = client.get(reverse("challenge_data_download", args=[challenge.slug]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == ('attachment; filename="challenge-a-public-data.zip"')
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = sorted(archive.namelist())
    assert names == [
        "README.txt",
        "challenge.json",
        "content/content-public-0.png",
        "content/content-public-1.png",
        "style/style-public-0.png",
    ]
    meta = json.loads(archive.read("challenge.json"))
    assert meta["resolution"] == 32
    public = {image.sha256 for image in challenge.images.filter(split="public")}
    assert {
        item["sha256"] for item in meta["images"]["content"] + meta["images"]["style"]
    } == public


def test_hidden_images_never_reach_participants(challenge: Challenge, participant) -> None:
    client = logged_in(participant)
    client.post(reverse("challenge_join", args=[challenge.slug]), {"accept_rules": "on"})
    hidden = challenge.images.filter(split="hidden")
    assert hidden.exists()
    for image in hidden:
        assert client.get(image_url(image)).status_code == 404
    archive = zipfile.ZipFile(
        io.BytesIO(
            b"".join(
                client.get(
                    reverse("challenge_data_download", args=[challenge.slug])
                ).streaming_content
            )
        )
    )
    data = b"".join(archive.read(name) for name in archive.namelist())
    hidden_hashes = set(hidden.values_list("sha256", flat=True))
    assert not any(sha in data.decode("latin-1") for sha in hidden_hashes)


def test_organizer_sees_hidden_images_of_their_challenge_only(
    challenge: Challenge, other_challenge: Challenge, organizer
) -> None:
    client = logged_in(organizer)
    own = challenge.images.filter(split="hidden").first()
    foreign = other_challenge.images.filter(split="hidden").first()
    assert client.get(image_url(own)).status_code == 200
    assert client.get(image_url(foreign)).status_code == 404


def test_participation_status_is_shown(challenge: Challenge, participant) -> None:
    client = logged_in(participant)
    assert "Join this challenge" in client.get(challenge.get_absolute_url()).content.decode()
    client.post(reverse("challenge_join", args=[challenge.slug]), {"accept_rules": "on"})
    page = client.get(challenge.get_absolute_url()).content.decode()
    assert "Join this challenge" not in page
    assert "You are a participant" in page
