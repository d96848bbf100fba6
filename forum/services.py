"""Writes to the forum: threads, replies, edits, and the organizers' moderation.

Every write that adds a post checks, in one transaction: who may write (forum.selectors),
the per-user rate limit counted from the database (so it holds across web workers), the
post's length, and renders the markdown once, through the shared sanitising renderer.
"""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from competitions.models import Challenge
from competitions.selectors import user_organizes
from config.errors import refusal
from config.markdown import MarkdownTooComplex, markdown_render_safe
from forum import errors, selectors
from forum.models import TITLE_MAX_CHARS, ForumBan, Post, Thread
from forum.selectors import ForumViewer

BAN_REASON_MAX_CHARS = 500


def _body_render(body: str) -> tuple[str, str]:
    """The post's markdown, checked, and its sanitised HTML."""
    body = body.strip()
    if "\x00" in body:
        raise refusal(errors.NUL_CHARACTER)
    if not body:
        raise refusal(errors.POST_EMPTY)
    if len(body) > errors.POST_MAX_CHARS:
        raise refusal(errors.POST_TOO_LONG, limit=errors.POST_MAX_CHARS, length=len(body))
    try:
        html = markdown_render_safe(body)
    except MarkdownTooComplex as error:
        raise refusal(errors.POST_TOO_COMPLEX, reason=str(error)) from error
    if not html.strip():
        raise refusal(errors.POST_NOTHING_TO_SHOW)
    return body, html


def _title_check(title: str) -> str:
    title = " ".join(title.split())
    if "\x00" in title:
        raise refusal(errors.NUL_CHARACTER)
    if not title:
        raise refusal(errors.TITLE_EMPTY)
    if len(title) > TITLE_MAX_CHARS:
        raise refusal(errors.TITLE_TOO_LONG, limit=TITLE_MAX_CHARS)
    return title


def _rate_limit_check(*, viewer: ForumViewer, now: dt.datetime) -> None:
    """At most ATELIER_FORUM_POST_LIMIT posts in any ATELIER_FORUM_POST_WINDOW_S seconds.

    The user's row is locked first, so that two requests of one user at the same moment
    (two web workers) are counted one after the other instead of both passing.
    """
    if viewer.is_organizer:
        return
    user = viewer.user
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    limit = settings.ATELIER_FORUM_POST_LIMIT
    window = settings.ATELIER_FORUM_POST_WINDOW_S
    recent = selectors.recent_post_times(user=user, since=now - dt.timedelta(seconds=window))
    if len(recent) >= limit:
        # The wait until the oldest post that counts leaves the window.
        free_at = recent[len(recent) - limit] + dt.timedelta(seconds=window)
        wait = max(1, math.ceil((free_at - now).total_seconds()))
        raise refusal(errors.RATE_LIMITED, limit=limit, window=window, wait=wait)


def _post_add(
    *, thread: Thread, viewer: ForumViewer, rendered: tuple[str, str], now: dt.datetime
) -> Post:
    body_markdown, body_html = rendered
    post = Post(
        thread=thread,
        author=viewer.user,
        body_markdown=body_markdown,
        body_html=body_html,
        by_organizer=viewer.is_organizer,
        created_at=now,
    )
    post.full_clean()
    post.save()
    Thread.objects.filter(pk=thread.pk).update(last_activity_at=now)
    thread.last_activity_at = now
    return post


@transaction.atomic
def thread_create(
    *, viewer: ForumViewer, title: str, body: str, announcement: bool = False
) -> Thread:
    """Start a thread with its first post; organizers may mark it an announcement."""
    refused = selectors.write_refusal(viewer)
    if refused is not None:
        raise refused
    now = timezone.now()
    title = _title_check(title)
    rendered = _body_render(body)
    _rate_limit_check(viewer=viewer, now=now)
    thread = Thread(
        challenge=viewer.challenge,
        title=title,
        author=viewer.user,
        is_announcement=announcement and viewer.is_organizer,
        created_at=now,
        last_activity_at=now,
    )
    thread.full_clean()
    thread.save()
    _post_add(thread=thread, viewer=viewer, rendered=rendered, now=now)
    return thread


@transaction.atomic
def post_create(
    *, viewer: ForumViewer, thread: Thread, body: str, quote: Post | int | None = None
) -> Post:
    """Reply in a thread, optionally quoting one of its posts (put before the reply).

    A quote given by id is looked up only once the viewer may write here, so that whoever
    may not learns that first, not whether some post exists.
    """
    refused = selectors.write_refusal(viewer, thread=thread)
    if refused is not None:
        raise refused
    if isinstance(quote, int):
        quote = selectors.quote_get(viewer=viewer, thread=thread, pk=quote)
    if quote is not None:
        if quote.thread_id != thread.pk:
            raise refusal(errors.QUOTE_NOT_FOUND)
        if body.strip():
            body = selectors.quote_markdown(quote) + body.strip()
    now = timezone.now()
    rendered = _body_render(body)
    _rate_limit_check(viewer=viewer, now=now)
    return _post_add(thread=thread, viewer=viewer, rendered=rendered, now=now)


@transaction.atomic
def post_edit(*, viewer: ForumViewer, post: Post, body: str) -> Post:
    """The author rewrites their post (see ``selectors.edit_refusal`` for when)."""
    now = timezone.now()
    refused = selectors.edit_refusal(viewer, post, now=now)
    if refused is not None:
        raise refused
    post.body_markdown, post.body_html = _body_render(body)
    post.edited_at = now
    post.full_clean()
    post.save(update_fields=["body_markdown", "body_html", "edited_at"])
    return post


def _organizer_check(user: AbstractBaseUser, challenge: Challenge) -> None:
    if not user_organizes(user, challenge):
        raise refusal(errors.NOT_ORGANIZER)


@transaction.atomic
def thread_moderate(
    *,
    thread: Thread,
    by: AbstractBaseUser,
    pinned: bool | None = None,
    locked: bool | None = None,
    hidden: bool | None = None,
    title: str | None = None,
) -> Thread:
    """An organizer pins, locks, hides or retitles a thread (None leaves that as it is; a new
    title comes from the admin's form, which has validated it against the model)."""
    _organizer_check(by, thread.challenge)
    changes = {"is_pinned": pinned, "is_locked": locked, "is_hidden": hidden, "title": title}
    fields = [name for name, value in changes.items() if value is not None]
    for name in fields:
        setattr(thread, name, changes[name])
    if fields:
        thread.save(update_fields=fields)
    return thread


MODERATION_ACTIONS = {
    "pin": {"pinned": True},
    "unpin": {"pinned": False},
    "lock": {"locked": True},
    "unlock": {"locked": False},
    "hide": {"hidden": True},
    "unhide": {"hidden": False},
}


def thread_moderate_action(*, thread: Thread, by: AbstractBaseUser, action: str) -> Thread:
    """``thread_moderate`` by the name of a moderation button (pin, unlock, hide, ...)."""
    if action not in MODERATION_ACTIONS:
        raise refusal(errors.UNKNOWN_ACTION)
    return thread_moderate(thread=thread, by=by, **MODERATION_ACTIONS[action])


@transaction.atomic
def post_hide(*, post: Post, by: AbstractBaseUser, hidden: bool) -> Post:
    """An organizer hides a post from everyone but the organizers, or shows it again.

    Its text is kept, so the decision can be reviewed and undone.
    """
    _organizer_check(by, post.thread.challenge)
    post.is_hidden = hidden
    post.hidden_by = by if hidden else None
    post.save(update_fields=["is_hidden", "hidden_by"])
    return post


@transaction.atomic
def forum_ban(
    *, challenge: Challenge, user: AbstractBaseUser, reason: str, by: AbstractBaseUser
) -> ForumBan:
    """Stop a user from writing in the challenge's forum (they may still read it)."""
    _organizer_check(by, challenge)
    if user_organizes(user, challenge):
        raise refusal(errors.BAN_ORGANIZER)
    reason = " ".join(reason.split())
    if not reason or len(reason) > BAN_REASON_MAX_CHARS:
        raise refusal(errors.BAN_REASON, limit=BAN_REASON_MAX_CHARS)
    ban, _ = ForumBan.objects.update_or_create(
        challenge=challenge, user=user, defaults={"reason": reason, "banned_by": by}
    )
    return ban


@transaction.atomic
def forum_unban(*, ban: ForumBan, by: AbstractBaseUser) -> None:
    _organizer_check(by, ban.challenge)
    ban.delete()
