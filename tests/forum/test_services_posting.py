"""Writing in the forum: who may, the rate limit, the edit window, quotes, ordering."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from pytest_django.fixtures import Settings

from competitions.models import Challenge, Participation
from competitions.services import participation_decide, participation_join
from config.errors import ApplicationError
from forum import errors, selectors, services
from forum.models import ForumBan, Post, Thread
from tests.factories import UserFactory, make_challenge, make_forum_thread
from tests.forum.conftest import joined, viewer

pytestmark = pytest.mark.django_db


def code_of(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ApplicationError) as caught:
        call()
    return caught.value.code


# --- Who may write -----------------------------------------------------------------------------


def test_participant_starts_a_thread_and_replies(challenge: Challenge, member) -> None:
    thread = services.thread_create(
        viewer=viewer(challenge, member), title="  Which  learning rate? ", body="*Hi*"
    )
    assert thread.title == "Which learning rate?"
    assert not thread.is_announcement
    post = services.post_create(viewer=viewer(challenge, member), thread=thread, body="More")
    assert list(thread.posts.values_list("body_html", flat=True)) == [
        "<p><em>Hi</em></p>",
        "<p>More</p>",
    ]
    thread.refresh_from_db()
    assert thread.last_activity_at == post.created_at


def test_outsider_cannot_post(challenge: Challenge, outsider, member) -> None:
    thread = make_forum_thread(challenge, member)
    as_outsider = viewer(challenge, outsider)
    assert code_of(lambda: services.post_create(viewer=as_outsider, thread=thread, body="x")) == (
        "forum_not_participant"
    )
    assert code_of(lambda: services.thread_create(viewer=as_outsider, title="t", body="x")) == (
        "forum_not_participant"
    )


def test_anonymous_cannot_post(challenge: Challenge, member) -> None:
    thread = make_forum_thread(challenge, member)
    anonymous = viewer(challenge, AnonymousUser())
    call = lambda: services.post_create(viewer=anonymous, thread=thread, body="x")  # noqa: E731
    assert code_of(call) == "forum_login_required"


def test_pending_participant_cannot_post(organizer) -> None:
    challenge = make_challenge(
        slug="by-approval", organizers=(organizer,), registration=Challenge.Registration.APPROVAL
    )
    pending = UserFactory(username="pending")
    participation = participation_join(user=pending, challenge=challenge, accept_rules=True)
    assert participation.status == Participation.Status.PENDING
    call = lambda: services.thread_create(viewer=viewer(challenge, pending), title="t", body="x")  # noqa: E731
    assert code_of(call) == "forum_not_participant"
    participation_decide(
        participation=participation, status=Participation.Status.APPROVED, decided_by=organizer
    )
    assert services.thread_create(viewer=viewer(challenge, pending), title="t", body="x").pk


def test_forum_banned_user_cannot_post_but_can_read(
    challenge: Challenge, member, organizer
) -> None:
    thread = make_forum_thread(challenge, organizer)
    services.forum_ban(challenge=challenge, user=member, reason="Spam", by=organizer)
    as_member = viewer(challenge, member)
    call = lambda: services.post_create(viewer=as_member, thread=thread, body="x")  # noqa: E731
    assert code_of(call) == "forum_banned"
    assert list(selectors.threads_visible(as_member)) == [thread]
    ForumBan.objects.get().delete()
    assert services.post_create(viewer=viewer(challenge, member), thread=thread, body="x").pk


def test_participant_banned_from_the_challenge_cannot_post(challenge, member, organizer) -> None:
    participation = Participation.objects.get(user=member)
    participation_decide(
        participation=participation, status=Participation.Status.BANNED, decided_by=organizer
    )
    call = lambda: services.thread_create(viewer=viewer(challenge, member), title="t", body="x")  # noqa: E731
    assert code_of(call) == "forum_banned"


def test_organizers_cannot_be_banned_and_only_organizers_ban(challenge, member, organizer) -> None:
    ban = lambda user, by: services.forum_ban(  # noqa: E731
        challenge=challenge, user=user, reason="r", by=by
    )
    assert code_of(lambda: ban(organizer, organizer)) == "forum_ban_organizer"
    assert code_of(lambda: ban(member, member)) == "forum_not_organizer"


def test_locked_thread_refuses_replies_except_from_organizers(challenge, member, organizer) -> None:
    thread = make_forum_thread(challenge, member)
    services.thread_moderate(thread=thread, by=organizer, locked=True)
    call = lambda: services.post_create(viewer=viewer(challenge, member), thread=thread, body="x")  # noqa: E731
    assert code_of(call) == "forum_locked"
    post = services.post_create(viewer=viewer(challenge, organizer), thread=thread, body="Closed.")
    assert post.by_organizer


def test_participants_cannot_moderate(challenge, member) -> None:
    thread = make_forum_thread(challenge, member)
    assert code_of(lambda: services.thread_moderate(thread=thread, by=member, pinned=True)) == (
        "forum_not_organizer"
    )
    post = thread.posts.get()
    assert code_of(lambda: services.post_hide(post=post, by=member, hidden=True)) == (
        "forum_not_organizer"
    )


def test_archived_forum_is_read_only_for_participants(challenge, member, organizer) -> None:
    thread = make_forum_thread(challenge, member)
    Challenge.objects.filter(pk=challenge.pk).update(status=Challenge.Status.ARCHIVED)
    challenge.refresh_from_db()
    call = lambda: services.post_create(viewer=viewer(challenge, member), thread=thread, body="x")  # noqa: E731
    assert code_of(call) == "forum_closed"
    assert services.post_create(viewer=viewer(challenge, organizer), thread=thread, body="x").pk


def test_announcements_are_for_organizers(challenge, member, organizer) -> None:
    by_member = services.thread_create(
        viewer=viewer(challenge, member), title="t", body="b", announcement=True
    )
    by_organizer = services.thread_create(
        viewer=viewer(challenge, organizer), title="News", body="b", announcement=True
    )
    assert not by_member.is_announcement
    assert by_organizer.is_announcement
    assert by_organizer.posts.get().by_organizer


# --- Ordering ------------------------------------------------------------------------------


def test_threads_are_listed_pinned_first_then_by_last_activity(challenge, member, organizer):
    now = timezone.now()
    old = make_forum_thread(
        challenge, member, title="old", last_activity_at=now - dt.timedelta(days=3)
    )
    new = make_forum_thread(
        challenge, member, title="new", last_activity_at=now - dt.timedelta(days=1)
    )
    pinned = make_forum_thread(
        challenge,
        organizer,
        title="rules",
        pinned=True,
        last_activity_at=now - dt.timedelta(days=9),
    )
    as_member = viewer(challenge, member)
    assert list(selectors.threads_visible(as_member)) == [pinned, new, old]
    services.post_create(viewer=as_member, thread=old, body="bump")
    assert list(selectors.threads_visible(as_member)) == [pinned, old, new]


def test_hidden_threads_and_posts_are_for_organizers_only(challenge, member, organizer, outsider):
    thread = make_forum_thread(challenge, member, title="visible")
    spam = make_forum_thread(challenge, member, title="spam")
    services.thread_moderate(thread=spam, by=organizer, hidden=True)
    reply = services.post_create(viewer=viewer(challenge, member), thread=thread, body="rude")
    services.post_hide(post=reply, by=organizer, hidden=True)
    for user in (member, outsider, AnonymousUser()):
        as_user = viewer(challenge, user)
        assert list(selectors.threads_visible(as_user)) == [thread]
        assert selectors.threads_visible(as_user).get().post_count == 1
        assert reply not in selectors.posts_visible(viewer=as_user, thread=thread)
    as_organizer = viewer(challenge, organizer)
    assert set(selectors.threads_visible(as_organizer)) == {thread, spam}
    hidden = selectors.posts_visible(viewer=as_organizer, thread=thread).get(pk=reply.pk)
    assert hidden.body_markdown == "rude"
    assert hidden.hidden_by == organizer


# --- Rate limit ----------------------------------------------------------------------------


def test_rate_limit_counts_recent_posts_from_the_database(
    challenge, member, organizer, settings: Settings
) -> None:
    settings.ATELIER_FORUM_POST_LIMIT = 2
    settings.ATELIER_FORUM_POST_WINDOW_S = 60
    thread = make_forum_thread(challenge, organizer)
    as_member = viewer(challenge, member)
    services.post_create(viewer=as_member, thread=thread, body="one")
    services.thread_create(viewer=as_member, title="two", body="two")
    with pytest.raises(ApplicationError) as caught:
        services.post_create(viewer=as_member, thread=thread, body="three")
    assert caught.value.code == "forum_rate_limited"
    assert "at most 2 posts in 60 seconds" in caught.value.message
    assert Post.objects.filter(author=member).count() == 2
    # Organizers are not limited.
    for number in range(3):
        services.post_create(viewer=viewer(challenge, organizer), thread=thread, body=f"{number}")
    # Once the older posts have left the window, the member may post again.
    Post.objects.filter(author=member).update(created_at=timezone.now() - dt.timedelta(seconds=61))
    assert services.post_create(viewer=as_member, thread=thread, body="three").pk


def test_refused_posts_do_not_count_against_the_rate_limit(
    challenge, member, settings: Settings
) -> None:
    settings.ATELIER_FORUM_POST_LIMIT = 1
    as_member = viewer(challenge, member)
    for _ in range(3):
        assert code_of(lambda: services.thread_create(viewer=as_member, title="t", body=" ")) == (
            "post_empty"
        )
    assert services.thread_create(viewer=as_member, title="t", body="b").pk


# --- Editing -------------------------------------------------------------------------------


def test_author_edits_within_the_window_only(challenge, member, settings: Settings) -> None:
    settings.ATELIER_FORUM_EDIT_WINDOW_S = 600
    thread = services.thread_create(viewer=viewer(challenge, member), title="t", body="v1")
    post = thread.posts.get()
    services.post_edit(viewer=viewer(challenge, member), post=post, body="**v2**")
    post.refresh_from_db()
    assert post.body_html == "<p><strong>v2</strong></p>"
    assert post.edited_at is not None
    Post.objects.filter(pk=post.pk).update(created_at=timezone.now() - dt.timedelta(seconds=601))
    post.refresh_from_db()
    with pytest.raises(ApplicationError) as caught:
        services.post_edit(viewer=viewer(challenge, member), post=post, body="v3")
    assert caught.value.code == "edit_window_closed"
    assert "first 10 minutes" in caught.value.message
    post.refresh_from_db()
    assert post.body_markdown == "**v2**"


def test_nobody_edits_someone_elses_post(challenge, member, organizer) -> None:
    post = make_forum_thread(challenge, member).posts.get()
    other = joined(challenge, "other")
    for user in (other, organizer):
        call = lambda user=user: services.post_edit(  # noqa: E731
            viewer=viewer(challenge, user), post=post, body="mine now"
        )
        assert code_of(call) == "forum_not_author"


def test_edit_in_a_locked_thread_is_refused(challenge, member, organizer) -> None:
    thread = services.thread_create(viewer=viewer(challenge, member), title="t", body="v1")
    services.thread_moderate(thread=thread, by=organizer, locked=True)
    call = lambda: services.post_edit(  # noqa: E731
        viewer=viewer(challenge, member), post=thread.posts.get(), body="v2"
    )
    assert code_of(call) == "forum_locked"


# --- Quotes ------------------------------------------------------------------------------


def test_quote_puts_the_quoted_post_before_the_reply(challenge, member) -> None:
    thread = make_forum_thread(challenge, member, body="Use *Adam*.\n\nWith lr 1e-3.")
    quoted = thread.posts.get()
    other = joined(challenge, "an_other")
    reply = services.post_create(
        viewer=viewer(challenge, other), thread=thread, body="Thanks!", quote=quoted
    )
    assert reply.body_markdown == (
        "> **member** wrote:\n>\n> Use *Adam*.\n>\n> With lr 1e-3.\n\nThanks!"
    )
    assert reply.body_html.startswith("<blockquote>\n<p><strong>member</strong> wrote:</p>")
    assert "<em>Adam</em>" in reply.body_html
    assert reply.body_html.endswith("<p>Thanks!</p>")


def test_quote_escapes_the_author_name_and_cuts_long_posts(challenge) -> None:
    author = joined(challenge, "a_b*c")
    thread = make_forum_thread(challenge, author, body="x" * 5000)
    text = selectors.quote_markdown(thread.posts.get())
    assert text.startswith("> **a\\_b\\*c** wrote:")
    assert len(text) < errors.QUOTE_MAX_CHARS + 100
    assert text.endswith("…\n\n")


def test_hidden_or_foreign_posts_cannot_be_quoted(challenge, member, organizer) -> None:
    thread = make_forum_thread(challenge, member)
    other_thread = make_forum_thread(challenge, member)
    hidden = services.post_create(viewer=viewer(challenge, member), thread=thread, body="h")
    services.post_hide(post=hidden, by=organizer, hidden=True)
    as_member = viewer(challenge, member)
    call = lambda pk, t=thread: selectors.quote_get(viewer=as_member, thread=t, pk=pk)  # noqa: E731
    assert code_of(lambda: call(hidden.pk)) == "quote_not_found"
    assert code_of(lambda: call(other_thread.posts.get().pk)) == "quote_not_found"
    foreign = other_thread.posts.get()
    assert (
        code_of(
            lambda: services.post_create(viewer=as_member, thread=thread, body="x", quote=foreign)
        )
        == "quote_not_found"
    )


def test_titles_are_checked(challenge, member) -> None:
    as_member = viewer(challenge, member)
    assert code_of(lambda: services.thread_create(viewer=as_member, title=" ", body="b")) == (
        "title_empty"
    )
    long_title = "t" * 201
    assert (
        code_of(lambda: services.thread_create(viewer=as_member, title=long_title, body="b"))
        == "title_too_long"
    )
    assert not Thread.objects.exists()
