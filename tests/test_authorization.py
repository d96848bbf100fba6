"""Who may open what: every page and API endpoint against every role, in one table.

Roles, in the order of the expectation columns:
  anonymous        not logged in
  outsider         logged in, never joined challenge A
  participant      approved in challenge A; owns its submissions
  other            approved in challenge A too; owns nothing here
  organizer        staff in the organizers group, organizes challenge A (and the draft)
  organizer_b      staff in the organizers group, organizes challenge B only

Pages are requested with a logged-in session, API endpoints with ``Authorization: Token KEY``.
``None`` in a column means "not checked here" (only used for the admin, where every URL is
checked for the non-staff roles by one generated row each, and the organizers' view of the
admin is spelled out in explicit rows).

``test_every_url_pattern_is_in_the_matrix`` walks the URL resolver: a new URL pattern fails it
until a row for it is added here (or it is listed in PENDING with a reason).

The world is built once for the module inside a transaction that is rolled back at the end
(like Django's ``setUpTestData``), so the real uploads' "queue on commit" never fires; every
request runs in its own savepoint, so a POST that changes something changes it for nobody
else.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.test.utils import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone
from PIL import Image
from pytest_django.fixtures import Settings
from rest_framework.authtoken.models import Token

from competitions.models import Challenge, ChallengeImage
from competitions.services import participation_join
from config.markdown import markdown_render_safe
from forum.models import Post, Thread
from leaderboard.services import leaderboard_submission_update
from scoring.engine import METRICS
from scoring.models import GalleryImage, Result
from submissions.models import Submission
from submissions.services import submission_create
from tests.factories import UserFactory, make_challenge, make_forum_thread, make_organizer
from tests.models.checkpoint_files import random_network, save_safetensors

ROLES = ("anonymous", "outsider", "participant", "other", "organizer", "organizer_b")

# URL patterns being written while this table was made, matched on the view's module with
# the reason as the value; each needs its rows before it leaves this list. Empty: every page
# and endpoint has its rows.
PENDING_MODULES: dict[str, str] = {}


@dataclass(frozen=True)
class World:
    users: dict[str, User]
    challenge: Challenge
    other_challenge: Challenge
    draft: Challenge
    scored: Submission
    queued: Submission
    checkpoint: bytes
    media: Path
    images: dict[str, ChallengeImage] = field(default_factory=dict)
    forum: dict[str, Thread | Post] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """One request and the status each role gets for it.

    ``writes_forum`` rows also check what the request did to the forum: a refused request
    (4xx, or the login redirect) must leave every thread and post as it was, an accepted
    one must change something (so the row cannot pass by doing nothing).
    """

    label: str
    url: Callable[[World], str]
    expected: tuple[int | None, ...]
    method: str = "GET"
    api: bool = False
    data: Callable[[World], dict[str, Any]] | None = None
    writes_forum: bool = False

    def __post_init__(self) -> None:
        assert len(self.expected) == len(ROLES), self.label


def url(name: str, *args: Callable[[World], Any]) -> Callable[[World], str]:
    """``reverse(name)`` with arguments taken from the world when the row runs."""
    return lambda world: reverse(name, args=[arg(world) for arg in args])


def with_query(name: str, query: str, *args: Callable[[World], Any]) -> Callable[[World], str]:
    return lambda world: url(name, *args)(world) + "?" + query


# What the rows' URLs take from the world: challenges A, B and the draft; the participant's
# scored and queued submissions (both real uploads).
def A(world: World) -> str:
    return world.challenge.slug


def B(world: World) -> str:
    return world.other_challenge.slug


def DRAFT(world: World) -> str:
    return world.draft.slug


def SCORED(world: World) -> object:
    return world.scored.pk


def QUEUED(world: World) -> object:
    return world.queued.pk


def image(kind: str) -> Callable[[World], int]:
    return lambda world: world.images[kind].pk


def forum(name: str) -> Callable[[World], int]:
    """A thread or post of the world's forums (see ``_build_forum``)."""
    return lambda world: world.forum[name].pk


def reply(world: World) -> dict[str, Any]:
    return {"body": "A *reply*."}


def new_thread(world: World) -> dict[str, Any]:
    return {"title": "A new question", "body": "Is **this** allowed?"}


def moderate(action: str) -> Callable[[World], dict[str, Any]]:
    return lambda world: {"action": action}


def upload(world: World) -> dict[str, Any]:
    return {
        "checkpoint": SimpleUploadedFile("generator.safetensors", world.checkpoint),
        "architecture": "transformer_net",
    }


WEB_POST = {"method": "POST"}
API = {"api": True}
API_POST = {"api": True, "method": "POST"}
FORUM_POST = {"method": "POST", "writes_forum": True}
FORUM_API_POST = {"api": True, "method": "POST", "writes_forum": True}

# fmt: off
ROWS: list[Row] = [
    # --- Challenges (pages) ----------------------------------- anon  out  part other  org  orgB
    Row("home", url("home"),                                    (200, 200, 200, 200, 200, 200)),
    Row("challenge page", url("challenge_detail", A),           (200, 200, 200, 200, 200, 200)),
    Row("challenge tab", url("challenge_tab", A, lambda w: "rules"),
                                                                (200, 200, 200, 200, 200, 200)),
    Row("draft challenge page", url("challenge_detail", DRAFT), (404, 404, 404, 404, 200, 404)),
    Row("draft challenge tab", url("challenge_tab", DRAFT, lambda w: "data"),
                                                                (404, 404, 404, 404, 200, 404)),
    Row("join page", url("challenge_join", A),                  (302, 200, 200, 200, 200, 200)),
    Row("join a draft", url("challenge_join", DRAFT),           (302, 404, 404, 404, 200, 404),
        **WEB_POST, data=lambda w: {"accept_rules": "on"}),
    Row("data download", url("challenge_data_download", A),     (302, 403, 200, 200, 200, 403)),
    Row("draft data download", url("challenge_data_download", DRAFT),
                                                                (302, 404, 404, 404, 200, 404)),
    Row("starter kit", url("challenge_starter_kit", A),         (302, 403, 200, 200, 200, 403)),
    Row("data download of B", url("challenge_data_download", B), (302, 403, 403, 403, 403, 200)),
    Row("public style image", url("challenge_image", A, image("style_public")),
                                                                (200, 200, 200, 200, 200, 200)),
    Row("public content image", url("challenge_image", A, image("content_public")),
                                                                (404, 404, 200, 200, 200, 404)),
    Row("hidden content image", url("challenge_image", A, image("content_hidden")),
                                                                (404, 404, 404, 404, 200, 404)),
    Row("hidden content thumbnail",
        with_query("challenge_image", "thumb=1", A, image("content_hidden")),
                                                                (404, 404, 404, 404, 200, 404)),
    Row("client download", url("client_download"),              (200, 200, 200, 200, 200, 200)),
    # --- Submissions (pages) ---------------------------------- anon  out  part other  org  orgB
    Row("submit page", url("challenge_submit", A),              (302, 200, 200, 200, 200, 200)),
    Row("submit an upload", url("challenge_submit", A),         (302, 200, 302, 302, 200, 200),
        **WEB_POST, data=upload),
    Row("my submissions page", url("my_submissions", A),        (302, 200, 200, 200, 200, 200)),
    Row("submission page", url("submission_detail", SCORED),    (302, 404, 200, 404, 200, 404)),
    Row("submission status", url("submission_status", SCORED),  (302, 404, 200, 404, 200, 404)),
    Row("submission gallery image", url("submission_gallery_image", SCORED, lambda w: 0),
                                                                (302, 404, 200, 404, 200, 404)),
    Row("cancel a submission", url("submission_cancel", QUEUED),
                                                                (302, 404, 302, 404, 302, 404),
        **WEB_POST),
    Row("select for the final ranking", url("submission_final_select", SCORED),
                                                                (302, 404, 302, 404, 302, 404),
        **WEB_POST, data=lambda w: {"selected": "1"}),
    # --- Leaderboards (pages) --------------------------------- anon  out  part other  org  orgB
    Row("public leaderboard", url("challenge_leaderboard", A),  (200, 200, 200, 200, 200, 200)),
    Row("private leaderboard before the reveal",
        with_query("challenge_leaderboard", "board=private", A), (403, 403, 403, 403, 200, 403)),
    Row("draft leaderboard", url("challenge_leaderboard", DRAFT),
                                                                (404, 404, 404, 404, 200, 404)),
    Row("leaderboard CSV", url("leaderboard_csv", A),           (403, 403, 403, 403, 200, 403)),
    Row("private leaderboard CSV", with_query("leaderboard_csv", "board=private", A),
                                                                (403, 403, 403, 403, 200, 403)),
    Row("leaderboard gallery image", url("leaderboard_gallery_image", A, SCORED, lambda w: 0),
                                                                (404, 404, 200, 200, 200, 404)),
    # --- Forum (pages) --------------------------------------- anon  out  part other  org  orgB
    # Refused writes on the pages answer the form again with the reason, with the API's
    # status for the same refusal (403 may not write, 400 cannot accept what was written).
    Row("forum", url("forum_threads", A),                       (200, 200, 200, 200, 200, 200)),
    Row("forum: thread", url("forum_thread", A, forum("thread")),
                                                                (200, 200, 200, 200, 200, 200)),
    Row("forum: thread quoting a hidden post",
        lambda w: url("forum_thread", A, forum("thread"))(w)
        + f"?quote={w.forum['hidden_post'].pk}",
                                                                (200, 200, 200, 200, 200, 200)),
    Row("forum: hidden thread", url("forum_thread", A, forum("hidden_thread")),
                                                                (404, 404, 404, 404, 200, 404)),
    Row("forum: A's thread under B's address", url("forum_thread", B, forum("thread")),
                                                                (404, 404, 404, 404, 404, 404)),
    Row("forum: new thread form", url("forum_thread_new", A),   (302, 200, 200, 200, 200, 200)),
    Row("forum: start a thread", url("forum_thread_new", A),    (302, 403, 302, 302, 302, 403),
        **FORUM_POST, data=new_thread),
    Row("forum: reply", url("forum_thread_reply", A, forum("thread")),
                                                                (302, 403, 302, 302, 302, 403),
        **FORUM_POST, data=reply),
    Row("forum: reply in a locked thread", url("forum_thread_reply", A, forum("locked")),
                                                                (302, 403, 403, 403, 302, 403),
        **FORUM_POST, data=reply),
    Row("forum: reply in a hidden thread", url("forum_thread_reply", A, forum("hidden_thread")),
                                                                (302, 404, 404, 404, 302, 404),
        **FORUM_POST, data=reply),
    Row("forum: reply quoting a hidden post", url("forum_thread_reply", A, forum("thread")),
                                                                (302, 403, 400, 400, 302, 403),
        **FORUM_POST, data=lambda w: {"body": "Quoted.", "quote": w.forum["hidden_post"].pk}),
    Row("forum: edit form, own post in the window", url("forum_post_edit", A, forum("mine")),
                                                                (302, 403, 200, 403, 403, 403)),
    Row("forum: edit, own post in the window", url("forum_post_edit", A, forum("mine")),
                                                                (302, 403, 302, 403, 403, 403),
        **FORUM_POST, data=lambda w: {"body": "Edited."}),
    Row("forum: edit form, own post after the window", url("forum_post_edit", A, forum("old")),
                                                                (302, 403, 403, 403, 403, 403)),
    Row("forum: edit, own post after the window", url("forum_post_edit", A, forum("old")),
                                                                (302, 403, 403, 403, 403, 403),
        **FORUM_POST, data=lambda w: {"body": "Edited late."}),
    Row("forum: edit, own post in a locked thread",
        url("forum_post_edit", A, forum("locked_post")),        (302, 403, 403, 403, 403, 403),
        **FORUM_POST, data=lambda w: {"body": "Edited while locked."}),
    Row("forum: edit, organizer's own post after the window",
        url("forum_post_edit", A, forum("organizer_old")),      (302, 403, 403, 403, 302, 403),
        **FORUM_POST, data=lambda w: {"body": "Corrected announcement."}),
    Row("forum: edit form, own hidden post", url("forum_post_edit", A, forum("hidden_post")),
                                                                (302, 404, 404, 404, 403, 404)),
    Row("forum: edit form, A's post under B's address", url("forum_post_edit", B, forum("mine")),
                                                                (302, 404, 404, 404, 404, 404)),
    Row("forum: pin", url("forum_thread_moderate", A, forum("thread")),
                                                                (302, 403, 403, 403, 302, 403),
        **FORUM_POST, data=moderate("pin")),
    Row("forum: lock", url("forum_thread_moderate", A, forum("thread")),
                                                                (302, 403, 403, 403, 302, 403),
        **FORUM_POST, data=moderate("lock")),
    Row("forum: hide a thread", url("forum_thread_moderate", A, forum("thread")),
                                                                (302, 403, 403, 403, 302, 403),
        **FORUM_POST, data=moderate("hide")),
    Row("forum: show a hidden thread", url("forum_thread_moderate", A, forum("hidden_thread")),
                                                                (302, 404, 404, 404, 302, 404),
        **FORUM_POST, data=moderate("unhide")),
    Row("forum: pin A's thread under B's address",
        url("forum_thread_moderate", B, forum("thread")),       (302, 404, 404, 404, 404, 404),
        **FORUM_POST, data=moderate("pin")),
    Row("forum: hide a post", url("forum_post_moderate", A, forum("mine")),
                                                                (302, 403, 403, 403, 302, 403),
        **FORUM_POST, data=moderate("hide")),
    Row("forum: show a hidden post", url("forum_post_moderate", A, forum("hidden_post")),
                                                                (302, 404, 404, 404, 302, 404),
        **FORUM_POST, data=moderate("unhide")),
    Row("forum: hide A's post under B's address", url("forum_post_moderate", B, forum("mine")),
                                                                (302, 404, 404, 404, 404, 404),
        **FORUM_POST, data=moderate("hide")),
    Row("draft forum", url("forum_threads", DRAFT),             (404, 404, 404, 404, 200, 404)),
    Row("draft forum: thread", url("forum_thread", DRAFT, forum("draft_thread")),
                                                                (404, 404, 404, 404, 200, 404)),
    Row("draft forum: new thread form", url("forum_thread_new", DRAFT),
                                                                (302, 404, 404, 404, 200, 404)),
    Row("draft forum: start a thread", url("forum_thread_new", DRAFT),
                                                                (302, 404, 404, 404, 302, 404),
        **FORUM_POST, data=new_thread),
    Row("draft forum: reply", url("forum_thread_reply", DRAFT, forum("draft_thread")),
                                                                (302, 404, 404, 404, 302, 404),
        **FORUM_POST, data=reply),
    # --- Accounts --------------------------------------------- anon  out  part other  org  orgB
    Row("sign up", url("signup"),                               (200, 302, 302, 302, 302, 302)),
    Row("log in", url("login"),                                 (200, 200, 200, 200, 200, 200)),
    Row("log out", url("logout"),                               (302, 302, 302, 302, 302, 302),
        **WEB_POST),
    Row("change password", url("password_change"),              (302, 200, 200, 200, 200, 200)),
    Row("password changed", url("password_change_done"),        (302, 200, 200, 200, 200, 200)),
    Row("reset password", url("password_reset"),                (200, 200, 200, 200, 200, 200)),
    Row("reset mail sent", url("password_reset_done"),          (200, 200, 200, 200, 200, 200)),
    Row("reset link (invalid)",
        url("password_reset_confirm", lambda w: "MQ", lambda w: "bad-token"),
                                                                (200, 200, 200, 200, 200, 200)),
    Row("password reset", url("password_reset_complete"),       (200, 200, 200, 200, 200, 200)),
    Row("API token page", url("api_token"),                     (302, 200, 200, 200, 200, 200)),
    Row("regenerate the API token", url("api_token"),           (302, 200, 200, 200, 200, 200),
        **WEB_POST, data=lambda w: {"action": "regenerate"}),
    # --- REST API --------------------------------------------- anon  out  part other  org  orgB
    Row("API: challenges", url("api_challenge_list"),           (200, 200, 200, 200, 200, 200),
        **API),
    Row("API: challenge", url("api_challenge_detail", A),       (200, 200, 200, 200, 200, 200),
        **API),
    Row("API: draft challenge", url("api_challenge_detail", DRAFT),
                                                                (404, 404, 404, 404, 200, 404),
        **API),
    Row("API: join", url("api_challenge_join", A),              (401, 200, 200, 200, 200, 200),
        **API_POST, data=lambda w: {"accept_rules": True}),
    Row("API: join a draft", url("api_challenge_join", DRAFT),  (401, 404, 404, 404, 400, 404),
        **API_POST, data=lambda w: {"accept_rules": True}),
    Row("API: phases", url("api_phase_list", A),                (200, 200, 200, 200, 200, 200),
        **API),
    Row("API: how it is scored", url("api_challenge_scoring", A),
                                                                (200, 200, 200, 200, 200, 200),
        **API),
    Row("API: how a draft is scored", url("api_challenge_scoring", DRAFT),
                                                                (404, 404, 404, 404, 200, 404),
        **API),
    Row("API: draft phases", url("api_phase_list", DRAFT),      (404, 404, 404, 404, 200, 404),
        **API),
    Row("API: my submissions", url("api_submission_create", A), (401, 200, 200, 200, 200, 200),
        **API),
    Row("API: upload a submission", url("api_submission_create", A),
                                                                (401, 400, 201, 201, 400, 400),
        **API_POST, data=upload),
    Row("API: upload to a draft", url("api_submission_create", DRAFT),
                                                                (401, 404, 404, 404, 400, 404),
        **API_POST, data=upload),
    Row("API: submission", url("api_submission_detail", SCORED),
                                                                (401, 404, 200, 404, 200, 404),
        **API),
    Row("API: cancel", url("api_submission_cancel", QUEUED),    (401, 404, 200, 404, 200, 404),
        **API_POST),
    Row("API: select for the final ranking", url("api_submission_final_select", SCORED),
                                                                (401, 404, 400, 404, 400, 404),
        **API_POST, data=lambda w: {"selected": True}),
    Row("API: public leaderboard", url("api_leaderboard", A),   (200, 200, 200, 200, 200, 200),
        **API),
    Row("API: private leaderboard before the reveal",
        with_query("api_leaderboard", "board=private", A),      (403, 403, 403, 403, 200, 403),
        **API),
    Row("API: draft leaderboard", url("api_leaderboard", DRAFT),
                                                                (404, 404, 404, 404, 200, 404),
        **API),
    Row("API: forum threads", url("api_forum_threads", A),      (200, 200, 200, 200, 200, 200),
        **API),
    Row("API: start a forum thread", url("api_forum_threads", A),
                                                                (401, 403, 201, 201, 201, 403),
        **FORUM_API_POST, data=new_thread),
    Row("API: forum thread", url("api_forum_thread", A, forum("thread")),
                                                                (200, 200, 200, 200, 200, 200),
        **API),
    Row("API: hidden forum thread", url("api_forum_thread", A, forum("hidden_thread")),
                                                                (404, 404, 404, 404, 200, 404),
        **API),
    Row("API: A's forum thread under B's address", url("api_forum_thread", B, forum("thread")),
                                                                (404, 404, 404, 404, 404, 404),
        **API),
    Row("API: forum posts", url("api_forum_posts", A, forum("thread")),
                                                                (200, 200, 200, 200, 200, 200),
        **API),
    Row("API: posts of a hidden thread", url("api_forum_posts", A, forum("hidden_thread")),
                                                                (404, 404, 404, 404, 200, 404),
        **API),
    Row("API: reply", url("api_forum_posts", A, forum("thread")),
                                                                (401, 403, 201, 201, 201, 403),
        **FORUM_API_POST, data=reply),
    Row("API: reply in a locked thread", url("api_forum_posts", A, forum("locked")),
                                                                (401, 403, 403, 403, 201, 403),
        **FORUM_API_POST, data=reply),
    Row("API: reply in a hidden thread", url("api_forum_posts", A, forum("hidden_thread")),
                                                                (401, 404, 404, 404, 201, 404),
        **FORUM_API_POST, data=reply),
    Row("API: reply quoting a hidden post", url("api_forum_posts", A, forum("thread")),
                                                                (401, 403, 400, 400, 201, 403),
        **FORUM_API_POST, data=lambda w: {"body": "Quoted.", "quote": w.forum["hidden_post"].pk}),
    Row("API: draft forum threads", url("api_forum_threads", DRAFT),
                                                                (404, 404, 404, 404, 200, 404),
        **API),
    Row("API: start a thread in a draft forum", url("api_forum_threads", DRAFT),
                                                                (401, 404, 404, 404, 201, 404),
        **FORUM_API_POST, data=new_thread),
    Row("API: draft forum thread", url("api_forum_thread", DRAFT, forum("draft_thread")),
                                                                (404, 404, 404, 404, 200, 404),
        **API),
    Row("API: draft forum posts", url("api_forum_posts", DRAFT, forum("draft_thread")),
                                                                (404, 404, 404, 404, 200, 404),
        **API),
    Row("API: schema", url("api_schema"),                       (200, 200, 200, 200, 200, 200),
        **API),
    Row("API: docs page", url("api_docs"),                      (200, 200, 200, 200, 200, 200),
        **API),
    # --- The organizers' admin -------------------------------- anon  out  part other  org  orgB
    Row("admin index", url("admin:index"),                      (302, 302, 302, 302, 200, 200)),
    Row("admin: challenges", url("admin:competitions_challenge_changelist"),
                                                                (302, 302, 302, 302, 200, 200)),
    Row("admin: challenge A",
        url("admin:competitions_challenge_change", lambda w: w.challenge.pk),
                                                                (302, 302, 302, 302, 200, 302)),
    Row("admin: challenge B",
        url("admin:competitions_challenge_change", lambda w: w.other_challenge.pk),
                                                                (302, 302, 302, 302, 302, 200)),
    Row("admin: import a challenge", url("admin:competitions_challenge_import"),
                                                                (302, 302, 302, 302, 200, 200)),
    Row("admin: submissions", url("admin:submissions_submission_changelist"),
                                                                (302, 302, 302, 302, 200, 200)),
    Row("admin: a submission of A", url("admin:submissions_submission_change", SCORED),
                                                                (302, 302, 302, 302, 200, 302)),
    Row("admin: participants", url("admin:competitions_participation_changelist"),
                                                                (302, 302, 302, 302, 200, 200)),
    Row("admin: a hidden image of A",
        url("admin:competitions_challengeimage_change", image("content_hidden")),
                                                                (302, 302, 302, 302, 200, 302)),
    Row("admin: forum threads", url("admin:forum_thread_changelist"),
                                                                (302, 302, 302, 302, 200, 200)),
    Row("admin: a forum thread of A", url("admin:forum_thread_change", forum("thread")),
                                                                (302, 302, 302, 302, 200, 302)),
    Row("admin: a hidden forum post of A", url("admin:forum_post_change", forum("hidden_post")),
                                                                (302, 302, 302, 302, 200, 302)),
    Row("admin: forum bans", url("admin:forum_forumban_changelist"),
                                                                (302, 302, 302, 302, 200, 200)),
    Row("admin: users", url("admin:auth_user_changelist"),     (302, 302, 302, 302, 403, 403)),
    Row("admin: API tokens", url("admin:authtoken_tokenproxy_changelist"),
                                                                (302, 302, 302, 302, 403, 403)),
]
# fmt: on


# --- Every admin URL is closed to non-staff -------------------------------------------------

# Sample values for the admin's URL parameters: nothing is looked up before the staff check.
_ADMIN_PARAMETERS = [
    (re.compile(r"\(\?P<app_label>[^)]*\)/\$"), "competitions/"),
    (re.compile(r"\(\?P<url>\.\*\)\$"), "no-such-page/"),
    (re.compile(r"<(?:path|int|str):[a-z_]+>|<[a-z_]+>"), "1"),
]


def _admin_sample(route: str) -> str:
    path = route
    for pattern, value in _ADMIN_PARAMETERS:
        path = pattern.sub(value, path)
    return "/" + path


def url_routes() -> list[tuple[str, str]]:
    """(route, view module) for every URL pattern, as ``resolve(path).route`` spells routes."""

    def walk(patterns: list, prefix: str) -> Iterator[tuple[str, str]]:
        for pattern in patterns:
            # Django drops a regex's leading "^" when it joins routes.
            route = prefix + str(pattern.pattern).removeprefix("^")
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                view = pattern.callback
                yield route, getattr(view, "view_class", view).__module__

    return list(walk(get_resolver().url_patterns, ""))


def _admin_rows() -> list[Row]:
    rows = []
    for route, _ in url_routes():
        if not route.startswith("admin/"):
            continue
        anonymous = 200 if route == "admin/login/" else 302
        # A logged-in non-staff user sees the login page with "not authorized" on it.
        logged_in = 200 if route == "admin/login/" else 302
        expected = (anonymous, logged_in, logged_in, logged_in, None, None)
        path = _admin_sample(route)
        rows.append(Row(f"non-staff: {route}", lambda world, path=path: path, expected))
    return rows


ALL_ROWS = ROWS + _admin_rows()


# --- The world ------------------------------------------------------------------------------


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def _mark_scored(submission: Submission) -> None:
    """What a worker would record: results on both boards, a gallery image, the status."""
    Submission.objects.filter(pk=submission.pk).update(
        status=Submission.Status.SCORED, stage="scored", progress=1.0, finished_at=timezone.now()
    )
    for board, composite in (("public", 2.0), ("private", 0.913712345)):
        values = dict.fromkeys(METRICS, 1.0) | {"composite": composite}
        Result.objects.create(
            submission=submission, leaderboard=board, references_key="r", images=1, **values
        )
    photo = submission.phase.challenge.images.filter(kind="content", split="public").first()
    name = default_storage.save(f"submissions/{submission.pk}/gallery/0.png", ContentFile(_png()))
    GalleryImage.objects.create(submission=submission, position=0, content_image=photo, file=name)
    leaderboard_submission_update(submission_id=submission.pk)


# Text only the challenge's organizers may ever receive: a hidden thread's title and first
# post, and a post hidden in a thread everyone reads.
HIDDEN_THREAD_TITLE = "Hidden-thread-title-7c1e"
HIDDEN_THREAD_BODY = "Hidden-thread-body-3f9a"
HIDDEN_POST_BODY = "Hidden-post-body-b52d"


def _post(thread: Thread, author: User, body: str, **fields: Any) -> Post:
    return Post.objects.create(
        thread=thread,
        author=author,
        body_markdown=body,
        body_html=markdown_render_safe(body),
        **fields,
    )


def _build_forum(users: dict[str, User], challenge: Challenge, draft: Challenge) -> dict:
    """Threads and posts of every kind the forum rows ask about, written straight to the
    database. The participant's recent posts (three) stay under the rate limit, so that the
    rows see the permission checks rather than the limit."""
    participant, organizer = users["participant"], users["organizer"]
    long_ago = timezone.now() - dt.timedelta(
        seconds=django_settings.ATELIER_FORUM_EDIT_WINDOW_S + 3600
    )
    thread = make_forum_thread(challenge, participant, title="Open question", body="Mine.")
    locked = make_forum_thread(challenge, participant, title="Closed question", locked=True)
    hidden_thread = make_forum_thread(
        challenge, participant, title=HIDDEN_THREAD_TITLE, body=HIDDEN_THREAD_BODY
    )
    Thread.objects.filter(pk=hidden_thread.pk).update(is_hidden=True)
    old_thread = make_forum_thread(
        challenge, participant, title="Old question", last_activity_at=long_ago
    )
    announcement = make_forum_thread(
        challenge, organizer, title="Welcome", body="Old news.", last_activity_at=long_ago
    )
    Post.objects.filter(thread=announcement).update(by_organizer=True)
    hidden_post = _post(
        thread,
        participant,
        HIDDEN_POST_BODY,
        is_hidden=True,
        hidden_by=organizer,
        created_at=long_ago,
    )
    return {
        "thread": thread,
        "locked": locked,
        "hidden_thread": hidden_thread,
        "mine": thread.posts.get(body_markdown="Mine."),
        "old": old_thread.posts.get(),
        "locked_post": locked.posts.get(),
        "organizer_old": announcement.posts.get(),
        "hidden_post": hidden_post,
        "draft_thread": make_forum_thread(draft, organizer, title="Draft plans"),
    }


def _build_world(folder: Path) -> World:
    users = {
        "outsider": UserFactory(username="outsider"),
        "participant": UserFactory(username="participant"),
        "other": UserFactory(username="other"),
        "organizer": make_organizer("organizer-a"),
        "organizer_b": make_organizer("organizer-b"),
    }
    challenge = make_challenge(slug="challenge-a", organizers=(users["organizer"],))
    # Room for the matrix's uploads next to the queued submission.
    challenge.phases.update(max_running=10)
    other_challenge = make_challenge(slug="challenge-b", organizers=(users["organizer_b"],))
    draft = make_challenge(
        slug="draft", organizers=(users["organizer"],), status=Challenge.Status.DRAFT
    )
    for name in ("participant", "other"):
        participation_join(user=users[name], challenge=challenge, accept_rules=True)
    checkpoint = save_safetensors(
        random_network("transformer_net", {"width": 4}).state_dict(), folder / "tiny.safetensors"
    )
    uploads = [
        submission_create(
            user=users["participant"],
            challenge=challenge,
            checkpoint_path=checkpoint,
            checkpoint_name="generator.safetensors",
            architecture="transformer_net",
        )
        for _ in range(2)
    ]
    scored, queued = uploads
    _mark_scored(scored)
    for user in users.values():
        Token.objects.create(user=user)
    images = {
        f"{kind}_{split}": challenge.images.filter(kind=kind, split=split).first()
        for kind, split in (("content", "public"), ("content", "hidden"), ("style", "public"))
    }
    scored.refresh_from_db()
    return World(
        users,
        challenge,
        other_challenge,
        draft,
        scored,
        queued,
        checkpoint.read_bytes(),
        folder,
        images,
        _build_forum(users, challenge, draft),
    )


@pytest.fixture(scope="module")
def world(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    media = tmp_path_factory.mktemp("authorization-media")
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with override_settings(MEDIA_ROOT=str(media)):
                built = _build_world(media)
            yield built
        finally:
            # Nothing of the world is ever committed, so nothing is queued for a worker.
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _private_media(settings: Settings, world: World) -> None:
    """The world's media (images, checkpoints, gallery) instead of a fresh folder per test."""
    settings.MEDIA_ROOT = str(world.media)


def _client(world: World, role: str, *, api: bool) -> Client:
    client = Client()
    user = world.users.get(role)
    if user is not None:
        if api:
            client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.get(user=user).key}"
        else:
            client.force_login(user)
    return client


def _forum_state() -> tuple[list[tuple], list[tuple]]:
    """Every thread and post with every column: what a forum write may change."""
    return (
        list(Thread.objects.order_by("pk").values_list()),
        list(Post.objects.order_by("pk").values_list()),
    )


def _status(world: World, row: Row, role: str) -> tuple[int, bool]:
    """The status ``role`` gets for ``row`` and whether the forum changed; whatever the
    request changes is rolled back."""
    with transaction.atomic():
        client = _client(world, role, api=row.api)
        path = row.url(world)
        data = row.data(world) if row.data else None
        before = _forum_state() if row.writes_forum else None
        if row.method == "GET":
            response = client.get(path)
        elif row.api and data is not None and "checkpoint" not in data:
            response = client.post(path, json.dumps(data), content_type="application/json")
        else:
            response = client.post(path, data or {})
        changed = row.writes_forum and _forum_state() != before
        transaction.set_rollback(True)
    return response.status_code, changed


@pytest.mark.django_db
@pytest.mark.parametrize("row", ALL_ROWS, ids=[row.label for row in ALL_ROWS])
def test_access(world: World, row: Row) -> None:
    expected = {role: code for role, code in zip(ROLES, row.expected, strict=True) if code}
    outcomes = {role: _status(world, row, role) for role in expected}
    actual = {role: status for role, (status, _) in outcomes.items()}
    assert actual == expected, f"{row.label}: {row.method} {row.url(world)}"
    if row.writes_forum:
        # Accepted: 201 from the API, a redirect from a page for a logged-in user.
        accepted = {
            role: status == 201 or (status == 302 and role != "anonymous")
            for role, status in actual.items()
        }
        changed = {role: did for role, (_, did) in outcomes.items()}
        assert changed == accepted, f"{row.label}: who changed the forum"


@pytest.mark.django_db
def test_every_url_pattern_is_in_the_matrix(world: World) -> None:
    covered = {resolve(row.url(world).split("?")[0]).route for row in ALL_ROWS}
    missing = [
        route
        for route, module in url_routes()
        if route not in covered and module not in PENDING_MODULES
    ]
    assert missing == [], "URL patterns without a row in tests/test_authorization.py"


@pytest.mark.django_db
def test_private_numbers_reach_only_the_organizer_before_the_reveal(world: World) -> None:
    """What the matrix lets through must not carry the private composite (0.9137…) either."""
    submission_pages = [
        url("submission_detail", SCORED),
        url("submission_status", SCORED),
        url("api_submission_detail", SCORED),
    ]
    boards = [url("challenge_leaderboard", A), url("api_leaderboard", A)]
    for role in ROLES:
        for page in submission_pages + boards:
            path = page(world)
            body = _client(world, role, api=path.startswith("/api/")).get(path).content.decode()
            shows_private = role == "organizer" and page in submission_pages
            assert ("0.9137" in body) == shows_private, (role, path)


@pytest.mark.django_db
def test_hidden_forum_content_reaches_only_the_organizers(world: World) -> None:
    """Rows that answer 200 must not carry a hidden thread or post either: not in the lists,
    not in a thread's page or its posts, not through a quote."""
    hidden_texts = (HIDDEN_THREAD_TITLE, HIDDEN_THREAD_BODY, HIDDEN_POST_BODY)
    thread, hidden_post = world.forum["thread"], world.forum["hidden_post"]
    pages = [
        url("forum_threads", A),
        url("forum_thread", A, forum("thread")),
        lambda w: url("forum_thread", A, forum("thread"))(w) + f"?quote={hidden_post.pk}",
        url("api_forum_threads", A),
        url("api_forum_thread", A, forum("thread")),
        url("api_forum_posts", A, forum("thread")),
    ]
    for role in ROLES:
        for page in pages:
            path = page(world)
            response = _client(world, role, api=path.startswith("/api/")).get(path)
            assert response.status_code == 200, (role, path)
            body = response.content.decode()
            shown = [text for text in hidden_texts if text in body]
            if role != "organizer":
                assert shown == [], (role, path)
    # The organizer does see them where they live (so the markers above can be found at all).
    organizer = _client(world, "organizer", api=False)
    assert HIDDEN_THREAD_TITLE in organizer.get(url("forum_threads", A)(world)).content.decode()
    assert HIDDEN_POST_BODY in organizer.get(thread.get_absolute_url()).content.decode()


@pytest.mark.django_db
def test_forum_rate_limit_answers_429_and_spares_the_organizers(world: World) -> None:
    """A participant at the limit is refused (429 in the API, the form again on the page);
    the challenge's organizers are not limited."""
    limit = django_settings.ATELIER_FORUM_POST_LIMIT
    thread = world.forum["thread"]
    path = url("api_forum_posts", A, forum("thread"))(world)
    page_path = url("forum_thread_reply", A, forum("thread"))(world)
    with transaction.atomic():
        for role in ("participant", "organizer"):
            for index in range(limit):
                _post(thread, world.users[role], f"Quick post {index}.")
        statuses = {
            role: _client(world, role, api=True)
            .post(path, json.dumps({"body": "One more."}), content_type="application/json")
            .status_code
            for role in ("participant", "other", "organizer")
        }
        refused = _client(world, "participant", api=True).post(
            path, json.dumps({"body": "Again."}), content_type="application/json"
        )
        on_the_page = _client(world, "participant", api=False).post(page_path, {"body": "Page."})
        transaction.set_rollback(True)
    assert statuses == {"participant": 429, "other": 201, "organizer": 201}
    assert refused.json()["error_code"] == "forum_rate_limited"
    assert on_the_page.status_code == 429
    assert "[forum_rate_limited]" in on_the_page.content.decode()
