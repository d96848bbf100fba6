"""The Forum tab: who reads it, the forms and buttons, pagination, moderation, the admin."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import ORGANIZERS_GROUP
from competitions.models import Challenge
from forum import selectors, services
from forum.models import ForumBan, Post, Thread
from tests.factories import make_challenge, make_forum_thread
from tests.forum.conftest import joined, logged_in, viewer

pytestmark = pytest.mark.django_db


def forum_url(challenge: Challenge) -> str:
    return reverse("forum_threads", args=[challenge.slug])


def test_the_forum_tab_link_reaches_the_thread_list(client: Client, challenge, member) -> None:
    make_forum_thread(challenge, member, title="First question")
    assert forum_url(challenge) == reverse("challenge_tab", args=[challenge.slug, "forum"])
    page = client.get(reverse("challenge_detail", args=[challenge.slug])).content.decode()
    assert f'href="{forum_url(challenge)}"' in page
    response = client.get(forum_url(challenge))
    assert response.status_code == 200
    body = response.content.decode()
    assert "First question" in body
    assert 'aria-current="page" class="active">Forum</a>' in body
    assert "Log in</a> and join the challenge to write" in body


def test_anonymous_reads_a_published_challenges_thread(client: Client, challenge, member):
    thread = make_forum_thread(challenge, member, body="**Readable**")
    response = client.get(thread.get_absolute_url())
    assert response.status_code == 200
    assert "<strong>Readable</strong>" in response.content.decode()
    assert "Post reply" not in response.content.decode()


def test_an_unpublished_challenges_forum_is_for_its_organizers_only(organizer, outsider) -> None:
    draft = make_challenge(slug="draft", organizers=(organizer,), status=Challenge.Status.DRAFT)
    thread = make_forum_thread(draft, organizer, title="Internal")
    for client in (Client(), logged_in(outsider)):
        assert client.get(forum_url(draft)).status_code == 404
        assert client.get(thread.get_absolute_url()).status_code == 404
    as_organizer = logged_in(organizer)
    assert "Internal" in as_organizer.get(forum_url(draft)).content.decode()
    assert as_organizer.get(thread.get_absolute_url()).status_code == 200


def test_participant_starts_a_thread_through_the_form(challenge, member) -> None:
    client = logged_in(member)
    listing = client.get(forum_url(challenge)).content.decode()
    assert f'href="{reverse("forum_thread_new", args=[challenge.slug])}">New thread</a>' in listing
    form = client.get(reverse("forum_thread_new", args=[challenge.slug])).content.decode()
    assert 'name="title"' in form
    assert 'name="body"' in form
    assert 'name="announcement"' not in form
    assert ">Start thread</button>" in form
    response = client.post(
        reverse("forum_thread_new", args=[challenge.slug]),
        {"title": "Data question", "body": "Is the *hidden* set fixed?"},
    )
    thread = Thread.objects.get()
    assert response.status_code == 302
    assert response["Location"] == thread.get_absolute_url()
    page = client.get(thread.get_absolute_url()).content.decode()
    assert "Is the <em>hidden</em> set fixed?" in page


def test_outsider_sees_why_they_cannot_write(challenge, member, outsider) -> None:
    thread = make_forum_thread(challenge, member)
    client = logged_in(outsider)
    page = client.get(thread.get_absolute_url()).content.decode()
    assert "Only approved participants of this challenge can write in its forum." in page
    assert "Post reply" not in page
    response = client.post(
        reverse("forum_thread_reply", args=[challenge.slug, thread.pk]), {"body": "hi"}
    )
    assert response.status_code == 403
    assert "[forum_not_participant]" in response.content.decode()
    response = client.post(
        reverse("forum_thread_new", args=[challenge.slug]), {"title": "t", "body": "b"}
    )
    assert response.status_code == 403
    assert "[forum_not_participant]" in response.content.decode()
    assert Post.objects.count() == 1


def test_reply_form_posts_and_lands_on_the_reply(challenge, member) -> None:
    thread = make_forum_thread(challenge, member)
    client = logged_in(member)
    page = client.get(thread.get_absolute_url()).content.decode()
    assert 'name="body"' in page
    assert 'name="quote"' in page
    assert ">Post reply</button>" in page
    response = client.post(
        reverse("forum_thread_reply", args=[challenge.slug, thread.pk]), {"body": "Me too"}
    )
    reply = Post.objects.latest("pk")
    assert response["Location"] == f"{thread.get_absolute_url()}#post-{reply.pk}"


def test_quote_link_prefills_the_quote_and_the_reply_carries_it(challenge, member) -> None:
    thread = make_forum_thread(challenge, member, body="Original words")
    quoted = thread.posts.get()
    other = joined(challenge, "other")
    client = logged_in(other)
    page = client.get(thread.get_absolute_url()).content.decode()
    assert f'href="?quote={quoted.pk}#reply">Quote</a>' in page
    page = client.get(thread.get_absolute_url(), {"quote": quoted.pk}).content.decode()
    assert f'name="quote" value="{quoted.pk}"' in page
    assert "Quoting member’s post" in page
    client.post(
        reverse("forum_thread_reply", args=[challenge.slug, thread.pk]),
        {"body": "Agreed", "quote": quoted.pk},
    )
    reply = Post.objects.latest("pk")
    assert reply.body_markdown.startswith("> **member** wrote:")
    assert "<blockquote>" in reply.body_html


def test_thread_pages_are_paginated_and_replies_redirect_to_their_page(challenge, member):
    thread = make_forum_thread(challenge, member, body="post 0")
    start = timezone.now() - dt.timedelta(hours=1)
    for number in range(1, selectors.POSTS_PER_PAGE + 5):
        Post.objects.create(
            thread=thread,
            author=member,
            body_markdown=f"post {number}",
            body_html=f"<p>post {number}</p>",
            created_at=start + dt.timedelta(seconds=number),
        )
    Post.objects.filter(body_markdown="post 0").update(created_at=start)
    client = logged_in(member)
    first = client.get(thread.get_absolute_url()).content.decode()
    assert "<p>post 0</p>" in first
    assert f"<p>post {selectors.POSTS_PER_PAGE}</p>" not in first
    assert "Page 1 of 2" in first
    second = client.get(thread.get_absolute_url(), {"page": 2}).content.decode()
    assert f"<p>post {selectors.POSTS_PER_PAGE}</p>" in second
    assert "<p>post 0</p>" not in second
    response = client.post(
        reverse("forum_thread_reply", args=[challenge.slug, thread.pk]), {"body": "last"}
    )
    assert re.search(r"\?page=2#post-\d+$", response["Location"])


def test_thread_list_is_paginated_with_pinned_first(client: Client, challenge, member, organizer):
    now = timezone.now()
    for number in range(selectors.THREADS_PER_PAGE + 2):
        make_forum_thread(
            challenge,
            member,
            title=f"Thread {number:02d}",
            last_activity_at=now - dt.timedelta(minutes=number),
        )
    make_forum_thread(
        challenge,
        organizer,
        title="Read me first",
        pinned=True,
        last_activity_at=now - dt.timedelta(days=30),
    )
    first = client.get(forum_url(challenge)).content.decode()
    titles = re.findall(r'class="forum-thread-title" href="[^"]+">([^<]+)</a>', first)
    assert titles[:3] == ["Read me first", "Thread 00", "Thread 01"]
    assert len(titles) == selectors.THREADS_PER_PAGE
    second = client.get(forum_url(challenge), {"page": 2}).content.decode()
    titles = re.findall(r'class="forum-thread-title" href="[^"]+">([^<]+)</a>', second)
    # 23 threads: the pinned one and 19 others on page 1, the 3 least active on page 2.
    assert titles == ["Thread 19", "Thread 20", "Thread 21"]


def test_organizer_pins_and_locks_with_the_buttons(challenge, member, organizer) -> None:
    thread = make_forum_thread(challenge, member)
    client = logged_in(organizer)
    page = client.get(thread.get_absolute_url()).content.decode()
    assert 'name="action" value="pin" class="button small secondary">Pin</button>' in page
    assert 'name="action" value="lock" class="button small secondary">Lock</button>' in page
    moderate = reverse("forum_thread_moderate", args=[challenge.slug, thread.pk])
    client.post(moderate, {"action": "pin"})
    client.post(moderate, {"action": "lock"})
    thread.refresh_from_db()
    assert thread.is_pinned
    assert thread.is_locked
    page = client.get(thread.get_absolute_url()).content.decode()
    assert ">Unpin</button>" in page
    assert ">Unlock</button>" in page
    member_page = logged_in(member).get(thread.get_absolute_url()).content.decode()
    assert "This thread is locked" in member_page
    assert "Post reply" not in member_page
    assert ">Pin</button>" not in member_page


def test_participants_cannot_use_the_moderation_urls(challenge, member) -> None:
    thread = make_forum_thread(challenge, member)
    client = logged_in(member)
    moderate = reverse("forum_thread_moderate", args=[challenge.slug, thread.pk])
    assert client.post(moderate, {"action": "pin"}).status_code == 403
    post_moderate = reverse("forum_post_moderate", args=[challenge.slug, thread.posts.get().pk])
    assert client.post(post_moderate, {"action": "hide"}).status_code == 403
    thread.refresh_from_db()
    assert not thread.is_pinned
    assert not thread.posts.get().is_hidden


def test_hidden_post_is_invisible_to_others_and_marked_for_organizers(
    challenge, member, organizer, outsider
) -> None:
    thread = make_forum_thread(challenge, member, body="fine")
    rude = services.post_create(viewer=viewer(challenge, member), thread=thread, body="RUDE TEXT")
    logged_in(organizer).post(
        reverse("forum_post_moderate", args=[challenge.slug, rude.pk]), {"action": "hide"}
    )
    for client in (Client(), logged_in(outsider), logged_in(member)):
        page = client.get(thread.get_absolute_url()).content.decode()
        assert "fine" in page
        assert "RUDE TEXT" not in page
    page = logged_in(organizer).get(thread.get_absolute_url()).content.decode()
    assert "RUDE TEXT" in page
    assert "Hidden from participants" in page
    assert f"?challenge={challenge.pk}&amp;user={member.pk}" in page  # the ban link


def test_edit_page_within_the_window_and_after(challenge, member, settings) -> None:
    settings.ATELIER_FORUM_EDIT_WINDOW_S = 300
    thread = services.thread_create(viewer=viewer(challenge, member), title="t", body="v1")
    post = thread.posts.get()
    client = logged_in(member)
    url = reverse("forum_post_edit", args=[challenge.slug, post.pk])
    assert ">Save changes</button>" in client.get(url).content.decode()
    assert client.post(url, {"body": "v2"}).status_code == 302
    post.refresh_from_db()
    assert post.body_html == "<p>v2</p>"
    Post.objects.filter(pk=post.pk).update(created_at=timezone.now() - dt.timedelta(minutes=6))
    assert client.get(url).status_code == 403
    response = client.post(url, {"body": "v3"})
    assert response.status_code == 403
    assert "[edit_window_closed]" in response.content.decode()


def test_organizer_sees_the_announcement_box_and_the_mark(challenge, organizer, member) -> None:
    client = logged_in(organizer)
    new = reverse("forum_thread_new", args=[challenge.slug])
    assert 'name="announcement"' in client.get(new).content.decode()
    client.post(new, {"title": "Phase 2 opens", "body": "Soon.", "announcement": "on"})
    listing = Client().get(forum_url(challenge)).content.decode()
    assert '<span class="badge ok">Announcement</span>' in listing
    page = Client().get(Thread.objects.get().get_absolute_url()).content.decode()
    assert '<span class="badge ok">Organizer</span>' in page


def test_the_rate_limit_shows_its_code_on_the_page(challenge, member, settings) -> None:
    settings.ATELIER_FORUM_POST_LIMIT = 1
    thread = make_forum_thread(challenge, member)
    Post.objects.update(created_at=timezone.now() - dt.timedelta(hours=1))
    url = reverse("forum_thread_reply", args=[challenge.slug, thread.pk])
    client = logged_in(member)
    assert client.post(url, {"body": "one"}).status_code == 302
    response = client.post(url, {"body": "two"})
    assert response.status_code == 429
    assert "[forum_rate_limited]" in response.content.decode()


# --- The admin -------------------------------------------------------------------------------


def test_organizers_group_gets_the_forum_permissions(organizer) -> None:
    codenames = set(
        Permission.objects.filter(
            group__name=ORGANIZERS_GROUP, content_type__app_label="forum"
        ).values_list("codename", flat=True)
    )
    assert {"change_thread", "change_post", "add_forumban", "delete_forumban"} <= codenames


def test_organizer_moderates_only_their_challenges_in_the_admin(
    challenge, other_challenge, organizer, member
) -> None:
    mine = make_forum_thread(challenge, member, title="Mine")
    theirs = make_forum_thread(other_challenge, member, title="Theirs")
    client = logged_in(organizer)
    listing = client.get(reverse("admin:forum_thread_changelist")).content.decode()
    assert "Mine" in listing
    assert "Theirs" not in listing
    assert client.get(reverse("admin:forum_thread_change", args=[theirs.pk])).status_code in (
        302,
        403,
        404,
    )
    posts = client.get(reverse("admin:forum_post_changelist")).content.decode()
    assert str(theirs.posts.get()) not in posts
    response = client.post(
        reverse("admin:forum_thread_changelist"),
        {"action": "lock", "_selected_action": [mine.pk, theirs.pk]},
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.is_locked
    assert not theirs.is_locked


def test_organizer_bans_from_the_admin(challenge, organizer, member) -> None:
    client = logged_in(organizer)
    response = client.post(
        reverse("admin:forum_forumban_add"),
        {"challenge": challenge.pk, "user": member.pk, "reason": "Posting solutions"},
    )
    assert response.status_code == 302
    ban = ForumBan.objects.get()
    assert (ban.user, ban.banned_by, ban.reason) == (member, organizer, "Posting solutions")
    refused = client.post(
        reverse("admin:forum_forumban_add"),
        {"challenge": challenge.pk, "user": organizer.pk, "reason": "x"},
    )
    assert refused.status_code == 200
    assert ForumBan.objects.count() == 1
