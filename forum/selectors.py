"""Reads for the forum: who may read and write where, threads and posts as each viewer sees
them, and pages of them.

Everyone who may see a challenge may read its forum (published and archived challenges for
all, drafts for their organizers only); hidden threads and posts are left out for everyone
but the challenge's organizers. The website and the API both ask these functions.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from competitions.models import Challenge, Participation
from competitions.selectors import challenge_get_visible, participation_for, user_organizes
from config.errors import ApplicationError, refusal
from forum import errors
from forum.models import ForumBan, Post, Thread

AnyUser = AbstractBaseUser | AnonymousUser

THREADS_PER_PAGE = 20
POSTS_PER_PAGE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class ForumViewer:
    """Who is looking at a challenge's forum, and their standing in it."""

    challenge: Challenge
    user: AnyUser
    is_organizer: bool
    participation: Participation | None
    ban: ForumBan | None


def forum_viewer_get(*, slug: str, user: AnyUser) -> ForumViewer:
    """The viewer of a forum they may read; 404 where the challenge is not theirs to see."""
    challenge = challenge_get_visible(slug=slug, user=user)
    return forum_viewer_for(challenge=challenge, user=user)


def forum_viewer_for(*, challenge: Challenge, user: AnyUser) -> ForumViewer:
    ban = None
    if user.is_authenticated:
        ban = ForumBan.objects.filter(challenge=challenge, user=user).first()
    return ForumViewer(
        challenge=challenge,
        user=user,
        is_organizer=user_organizes(user, challenge),
        participation=participation_for(user=user, challenge=challenge),
        ban=ban,
    )


def write_refusal(viewer: ForumViewer, *, thread: Thread | None = None) -> ApplicationError | None:
    """Why the viewer may not start a thread (or reply to ``thread``); None when they may.

    Organizers may always write in their challenge's forum, locked threads included. Others
    must be approved participants of a published challenge, not banned from its forum.
    """
    if viewer.is_organizer:
        return None
    if not viewer.user.is_authenticated:
        return refusal(errors.LOGIN_REQUIRED)
    if viewer.ban is not None or (
        viewer.participation is not None
        and viewer.participation.status == Participation.Status.BANNED
    ):
        return refusal(errors.BANNED)
    if viewer.participation is None or not viewer.participation.is_approved:
        return refusal(errors.NOT_PARTICIPANT)
    if viewer.challenge.status != Challenge.Status.PUBLISHED:
        return refusal(errors.CLOSED)
    if thread is not None and thread.is_locked:
        return refusal(errors.LOCKED)
    return None


def edit_refusal(
    viewer: ForumViewer, post: Post, *, now: dt.datetime | None = None
) -> ApplicationError | None:
    """Why the viewer may not edit the post; None when they may.

    Only the author edits a post: organizers hide what they object to instead. Organizers
    edit their own posts at any time (announcements get corrected); others within
    ATELIER_FORUM_EDIT_WINDOW_S of writing it, while they may still reply in the thread.
    """
    if not viewer.user.is_authenticated or post.author_id != viewer.user.pk:
        return refusal(errors.NOT_AUTHOR)
    if viewer.is_organizer:
        return None
    refused = write_refusal(viewer, thread=post.thread)
    if refused is not None:
        return refused
    window = settings.ATELIER_FORUM_EDIT_WINDOW_S
    if (now or timezone.now()) - post.created_at > dt.timedelta(seconds=window):
        return refusal(errors.EDIT_WINDOW_CLOSED, minutes=window // 60)
    return None


def threads_visible(viewer: ForumViewer) -> QuerySet[Thread]:
    """The challenge's threads the viewer may read: pinned first, then by last activity,
    each with the number of posts the viewer sees."""
    threads = Thread.objects.filter(challenge=viewer.challenge)
    post_filter = None
    if not viewer.is_organizer:
        threads = threads.filter(is_hidden=False)
        post_filter = Q(posts__is_hidden=False)
    return (
        threads.select_related("author")
        .annotate(post_count=Count("posts", filter=post_filter))
        .order_by("-is_pinned", "-last_activity_at", "-pk")
    )


def thread_get_visible(*, viewer: ForumViewer, pk: int) -> Thread:
    thread = threads_visible(viewer).filter(pk=pk).first()
    if thread is None:
        raise Http404("No such thread.")
    return thread


def posts_visible(*, viewer: ForumViewer, thread: Thread) -> QuerySet[Post]:
    """The thread's posts in order; hidden ones only for organizers."""
    posts = thread.posts.select_related("author", "thread__challenge")
    if not viewer.is_organizer:
        posts = posts.filter(is_hidden=False)
    return posts.order_by("created_at", "pk")


def post_get_visible(*, viewer: ForumViewer, pk: int) -> Post:
    """A post of the viewer's forum they may read (its thread too); 404 otherwise."""
    post = (
        Post.objects.filter(pk=pk, thread__challenge=viewer.challenge)
        .select_related("thread__challenge", "author")
        .first()
    )
    if post is None or (not viewer.is_organizer and (post.is_hidden or post.thread.is_hidden)):
        raise Http404("No such post.")
    return post


def quote_get(*, viewer: ForumViewer, thread: Thread, pk: int) -> Post:
    """A post of this thread the viewer may read and so quote."""
    post = posts_visible(viewer=viewer, thread=thread).filter(pk=pk).first()
    if post is None:
        raise refusal(errors.QUOTE_NOT_FOUND)
    return post


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")


def quote_markdown(post: Post) -> str:
    """The quoted post as a markdown block quote with its author, to put before a reply.

    Long posts are cut after QUOTE_MAX_CHARS characters so that a reply quoting them stays
    well within the length limit.
    """
    name = post.author.get_username() if post.author else "A former member"
    text = post.body_markdown.strip()
    if len(text) > errors.QUOTE_MAX_CHARS:
        text = text[: errors.QUOTE_MAX_CHARS].rstrip() + " …"
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", name)
    lines = [f"**{escaped}** wrote:", "", *text.splitlines()]
    return "\n".join(f"> {line}".rstrip() for line in lines) + "\n\n"


def page_get(items: QuerySet, *, number: int, size: int) -> Page:
    """One page of items; numbers past the end give the last page, so links never break."""
    return Paginator(items, size).get_page(number)


def post_page_number(*, viewer: ForumViewer, post: Post, size: int = POSTS_PER_PAGE) -> int:
    """On which page of its thread the viewer finds the post."""
    before = posts_visible(viewer=viewer, thread=post.thread).filter(
        Q(created_at__lt=post.created_at) | Q(created_at=post.created_at, pk__lt=post.pk)
    )
    return before.count() // size + 1


def recent_post_times(*, user: AbstractBaseUser, since: dt.datetime) -> list[dt.datetime]:
    """When the user wrote posts since then, oldest first (in any forum): the rate limit."""
    return list(
        Post.objects.filter(author=user, created_at__gte=since)
        .order_by("created_at")
        .values_list("created_at", flat=True)
    )
