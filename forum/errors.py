"""The forum's error codes and messages, shared by its pages, its API and its tests.

Each refusal has a stable code (the API's ``error_code``) and a sentence the user can act
on; messages with braces are formatted with the numbers that apply.
"""

from __future__ import annotations

POST_MAX_CHARS = 10_000
QUOTE_MAX_CHARS = 1_000

LOGIN_REQUIRED = ("forum_login_required", "Log in to write in the forum.")
NOT_PARTICIPANT = (
    "forum_not_participant",
    "Only approved participants of this challenge can write in its forum.",
)
BANNED = ("forum_banned", "The organizers have banned you from writing in this forum.")
CLOSED = ("forum_closed", "This challenge is archived: its forum is read-only.")
LOCKED = ("forum_locked", "This thread is locked: only the organizers can write in it.")
RATE_LIMITED = (
    "forum_rate_limited",
    "You are posting too fast: at most {limit} posts in {window} seconds. "
    "Try again in {wait} seconds.",
)
NOT_ORGANIZER = ("forum_not_organizer", "Only the challenge's organizers can do this.")
NOT_AUTHOR = ("forum_not_author", "You can only edit your own posts.")
EDIT_WINDOW_CLOSED = (
    "edit_window_closed",
    "Posts can only be edited in the first {minutes} minutes after writing them.",
)
POST_EMPTY = ("post_empty", "Write something first: the post is empty.")
POST_NOTHING_TO_SHOW = (
    "post_nothing_to_show",
    "Nothing of this post can be shown: scripts, frames, styles and forms are removed.",
)
POST_TOO_LONG = (
    "post_too_long",
    "A post can be at most {limit:,} characters long; this one has {length:,}. "
    "Shorten it, or split it into several posts.",
)
POST_TOO_COMPLEX = (
    "post_too_complex",
    "This post cannot be displayed as written. {reason}",
)
NUL_CHARACTER = ("forum_null_character", "The text contains a NUL character; remove it.")
TITLE_EMPTY = ("title_empty", "Give the thread a title.")
TITLE_TOO_LONG = ("title_too_long", "A title can be at most {limit} characters long.")
QUOTE_NOT_FOUND = ("quote_not_found", "The quoted post is not in this thread.")
UNKNOWN_ACTION = ("forum_unknown_action", "Unknown moderation action.")
BAN_ORGANIZER = (
    "forum_ban_organizer",
    "The challenge's organizers cannot be banned from its forum.",
)
BAN_REASON = ("forum_ban_reason", "Give a reason for the ban, at most {limit} characters.")

# The HTTP status of a refusal, the same on the pages and in the API: who may not write gets
# 403, who writes too fast 429, and a post that cannot be accepted as written 400.
_FORBIDDEN = {
    LOGIN_REQUIRED[0],
    NOT_PARTICIPANT[0],
    BANNED[0],
    CLOSED[0],
    LOCKED[0],
    NOT_ORGANIZER[0],
    NOT_AUTHOR[0],
    EDIT_WINDOW_CLOSED[0],
}


def http_status(code: str) -> int:
    if code in _FORBIDDEN:
        return 403
    if code == RATE_LIMITED[0]:
        return 429
    return 400
