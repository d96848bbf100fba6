"""The public challenge pages: list, detail tabs, join, image and data downloads."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from PIL import Image

from competitions import selectors
from competitions.datazip import public_data_zip
from competitions.forms import JoinForm
from competitions.models import Challenge, ChallengeImage
from competitions.services import participation_join
from competitions.starterkit import starter_kit_zip
from competitions.tabs import TABS
from config.errors import ApplicationError

THUMBNAIL_SIDE = 128
# The participant's command-line client: one file at the repository root (see README).
CLIENT_FILE = "atelier_cli.py"
DATA_FORBIDDEN = "Join the challenge and accept its rules to download the data."


def home(request: HttpRequest) -> HttpResponse:
    drafts = selectors.challenges_organized_by(request.user).exclude(
        status=Challenge.Status.PUBLISHED
    )
    return render(
        request,
        "competitions/home.html",
        {"challenges": selectors.challenge_list_published(), "organized_drafts": drafts},
    )


def challenge_detail(request: HttpRequest, slug: str, tab: str = "overview") -> HttpResponse:
    if tab not in TABS:
        return redirect("challenge_detail", slug=slug)
    challenge = selectors.challenge_get_visible(slug=slug, user=request.user)
    context = {
        "challenge": challenge,
        "tab": tab,
        "tabs": TABS,
        "phases": challenge.phases.all(),
        "participation": selectors.participation_for(user=request.user, challenge=challenge),
        "is_organizer": selectors.user_organizes(request.user, challenge),
        "may_download": selectors.user_may_download_public_data(request.user, challenge),
        "counts": selectors.image_counts(challenge),
        "style_images": selectors.public_images(challenge, kind=ChallengeImage.Kind.STYLE),
    }
    return render(request, "competitions/challenge_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def challenge_join(request: HttpRequest, slug: str) -> HttpResponse:
    challenge = selectors.challenge_get_visible(slug=slug, user=request.user)
    participation = selectors.participation_for(user=request.user, challenge=challenge)
    form = JoinForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            participation = participation_join(
                user=request.user, challenge=challenge, accept_rules=True
            )
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            if participation.is_approved:
                messages.success(request, "You have joined the challenge. Good luck!")
            else:
                messages.info(request, "Your request is pending: an organizer will review it.")
            return redirect("challenge_detail", slug=challenge.slug)
    return render(
        request,
        "competitions/challenge_join.html",
        {"challenge": challenge, "form": form, "participation": participation},
    )


def challenge_image(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Serve one stored image (or its thumbnail with ?thumb=1) to those allowed to see it."""
    challenge = selectors.challenge_get_visible(slug=slug, user=request.user)
    image = selectors.image_get_for_viewer(challenge=challenge, pk=pk, user=request.user)
    private = (
        image.split == ChallengeImage.Split.HIDDEN or image.kind == ChallengeImage.Kind.CONTENT
    )
    cache_control = "private, max-age=3600" if private else "public, max-age=86400"
    if request.GET.get("thumb"):
        with default_storage.open(image.file.name, "rb") as handle:
            thumbnail = Image.open(handle)
            thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            buffer = io.BytesIO()
            thumbnail.save(buffer, format="PNG")
        response = HttpResponse(buffer.getvalue(), content_type="image/png")
    else:
        response = FileResponse(
            default_storage.open(image.file.name, "rb"), content_type="image/png"
        )
    response["Cache-Control"] = cache_control
    return response


def _participant_zip(
    request: HttpRequest, slug: str, build: Callable[[Challenge], IO[bytes]], name: str
) -> HttpResponse:
    """A zip built for the challenge, for those who may download its public data."""
    challenge = selectors.challenge_get_visible(slug=slug, user=request.user)
    if not selectors.user_may_download_public_data(request.user, challenge):
        return HttpResponseForbidden(DATA_FORBIDDEN)
    return FileResponse(
        build(challenge),
        as_attachment=True,
        filename=f"{challenge.slug}-{name}.zip",
        content_type="application/zip",
    )


@login_required
def challenge_data_download(request: HttpRequest, slug: str) -> HttpResponse:
    return _participant_zip(request, slug, public_data_zip, "public-data")


def client_download(request: HttpRequest) -> HttpResponse:
    """The `atelier` command-line client as one file, to run with Python and `requests`."""
    return FileResponse(
        (settings.BASE_DIR / CLIENT_FILE).open("rb"),
        as_attachment=True,
        filename="atelier.py",
        content_type="text/x-python",
    )


@login_required
def challenge_starter_kit(request: HttpRequest, slug: str) -> HttpResponse:
    """The starter kit: public data, trainer, client, README; same access as the data."""
    return _participant_zip(request, slug, starter_kit_zip, "starter-kit")
