"""The forum in the REST API: the website's permissions exactly, paginated, documented."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from competitions.models import Challenge
from forum import services
from forum.models import Post, Thread
from tests.factories import make_challenge, make_forum_thread
from tests.forum.conftest import viewer

pytestmark = pytest.mark.django_db


def api(user=None) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def threads_url(challenge: Challenge) -> str:
    return reverse("api_forum_threads", args=[challenge.slug])


def posts_url(thread: Thread) -> str:
    return reverse("api_forum_posts", args=[thread.challenge.slug, thread.pk])


def test_anonymous_reads_threads_and_posts_of_a_published_challenge(challenge, member):
    now = timezone.now()
    old = make_forum_thread(challenge, member, title="old", last_activity_at=now - dt.timedelta(1))
    new = make_forum_thread(challenge, member, title="new", body="**b**")
    pinned = make_forum_thread(
        challenge, member, title="pinned", pinned=True, last_activity_at=now - dt.timedelta(9)
    )
    body = api().get(threads_url(challenge)).json()
    assert [item["id"] for item in body["results"]] == [pinned.pk, new.pk, old.pk]
    assert (body["count"], body["next"], body["previous"]) == (3, None, None)
    assert body["results"][1]["author"] == "member"
    assert body["results"][1]["post_count"] == 1
    posts = api().get(posts_url(new)).json()
    assert posts["results"][0]["body_html"] == "<p><strong>b</strong></p>"
    assert posts["results"][0]["body_markdown"] == "**b**"
    detail = api().get(reverse("api_forum_thread", args=[challenge.slug, new.pk])).json()
    assert detail["title"] == "new"


def test_pagination_of_threads(challenge, member) -> None:
    for number in range(5):
        make_forum_thread(challenge, member, title=f"t{number}")
    # The same page-number pagination as every list of the API.
    body = api().get(threads_url(challenge), {"page": 2, "page_size": 2}).json()
    assert (body["count"], len(body["results"])) == (5, 2)
    assert "page=3" in body["next"]
    assert "page=" not in body["previous"] or "page=1" in body["previous"]
    missing = api().get(threads_url(challenge), {"page": 4, "page_size": 2})
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "not_found"
    # More than the maximum page size gets the maximum, as elsewhere in the API.
    too_big = api().get(threads_url(challenge), {"page_size": 1000})
    assert (too_big.status_code, len(too_big.json()["results"])) == (200, 5)


def test_unpublished_challenges_forum_is_for_organizers_only(organizer, outsider) -> None:
    draft = make_challenge(slug="draft", organizers=(organizer,), status=Challenge.Status.DRAFT)
    thread = make_forum_thread(draft, organizer)
    for client in (api(), api(outsider)):
        assert client.get(threads_url(draft)).status_code == 404
        assert client.get(posts_url(thread)).status_code == 404
    assert api(organizer).get(threads_url(draft)).json()["count"] == 1


def test_participant_creates_a_thread_and_a_reply(challenge, member) -> None:
    response = api(member).post(
        threads_url(challenge), {"title": "Q", "body": "<script>x</script>*hi*"}, format="json"
    )
    assert response.status_code == 201
    thread = Thread.objects.get()
    assert response.json()["id"] == thread.pk
    assert response.json()["post_count"] == 1
    quoted = thread.posts.get()
    reply = api(member).post(
        posts_url(thread), {"body": "again", "quote": quoted.pk}, format="json"
    )
    assert reply.status_code == 201
    assert reply.json()["body_markdown"].startswith("> **member** wrote:")
    assert "<script" not in reply.json()["body_html"]


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("anonymous", 401, "not_authenticated"),
        ("outsider", 403, "forum_not_participant"),
        ("banned", 403, "forum_banned"),
    ],
)
def test_who_cannot_post(who, status, code, challenge, member, outsider, organizer) -> None:
    thread = make_forum_thread(challenge, member)
    users = {"anonymous": None, "outsider": outsider, "banned": member}
    services.forum_ban(challenge=challenge, user=member, reason="spam", by=organizer)
    for url, data in (
        (threads_url(challenge), {"title": "t", "body": "b"}),
        (posts_url(thread), {"body": "b"}),
    ):
        response = api(users[who]).post(url, data, format="json")
        assert response.status_code == status
        assert response.json()["error_code"] == code
    assert Post.objects.count() == 1


def test_locked_thread_refuses_replies_except_organizers(challenge, member, organizer) -> None:
    thread = make_forum_thread(challenge, member)
    services.thread_moderate(thread=thread, by=organizer, locked=True)
    response = api(member).post(posts_url(thread), {"body": "b"}, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "error_code": "forum_locked",
        "detail": "This thread is locked: only the organizers can write in it.",
    }
    assert api(organizer).post(posts_url(thread), {"body": "b"}, format="json").status_code == 201


def test_hidden_posts_and_threads_in_the_api(challenge, member, organizer, outsider) -> None:
    thread = make_forum_thread(challenge, member)
    hidden_thread = make_forum_thread(challenge, member, title="hidden")
    services.thread_moderate(thread=hidden_thread, by=organizer, hidden=True)
    post = services.post_create(viewer=viewer(challenge, member), thread=thread, body="bad")
    services.post_hide(post=post, by=organizer, hidden=True)
    for client in (api(), api(outsider), api(member)):
        assert [p["id"] for p in client.get(posts_url(thread)).json()["results"]] == [
            thread.posts.first().pk
        ]
        assert client.get(threads_url(challenge)).json()["count"] == 1
        assert client.get(posts_url(hidden_thread)).status_code == 404
    as_organizer = api(organizer).get(posts_url(thread)).json()["results"]
    assert [p["is_hidden"] for p in as_organizer] == [False, True]


def test_rate_limit_and_length_errors_in_the_api(challenge, member, settings) -> None:
    settings.ATELIER_FORUM_POST_LIMIT = 1
    thread = make_forum_thread(challenge, member)
    Post.objects.update(created_at=timezone.now() - dt.timedelta(hours=1))
    too_long = api(member).post(posts_url(thread), {"body": "x" * 1024 * 1024}, format="json")
    assert too_long.status_code == 400
    assert too_long.json()["error_code"] == "post_too_long"
    assert api(member).post(posts_url(thread), {"body": "ok"}, format="json").status_code == 201
    limited = api(member).post(posts_url(thread), {"body": "again"}, format="json")
    assert limited.status_code == 429
    assert limited.json()["error_code"] == "forum_rate_limited"


def test_the_forum_endpoints_are_in_the_openapi_schema() -> None:
    schema = api().get(reverse("api_schema"), {"format": "json"}).json()
    paths = schema["paths"]
    threads = paths["/api/v1/challenges/{slug}/forum/threads/"]
    posts = paths["/api/v1/challenges/{slug}/forum/threads/{id}/posts/"]
    assert threads["get"]["operationId"] == "forum_threads_list"
    assert threads["post"]["operationId"] == "forum_thread_create"
    assert posts["post"]["operationId"] == "forum_post_create"
    assert {"page", "page_size"} <= {p["name"] for p in threads["get"]["parameters"]}
    assert "ForumPost" in schema["components"]["schemas"]
