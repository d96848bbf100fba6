"""The forum's forms: only what the user typed; the rules live in forum.services."""

from __future__ import annotations

from django import forms

from forum.errors import POST_MAX_CHARS
from forum.models import TITLE_MAX_CHARS

BODY_HELP = (
    f"Markdown: **bold**, _italic_, `code`, ``` fenced blocks ```, [links](https://…), "
    f"> quotes. At most {POST_MAX_CHARS:,} characters."
)


def _body_field() -> forms.CharField:
    # Not required and no max_length here: the service refuses an empty or overlong post
    # with the same error code on the page as in the API.
    return forms.CharField(
        label="Message",
        required=False,
        strip=False,
        help_text=BODY_HELP,
        widget=forms.Textarea(attrs={"rows": 8, "maxlength": POST_MAX_CHARS}),
    )


class ThreadForm(forms.Form):
    title = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"maxlength": TITLE_MAX_CHARS})
    )
    body = _body_field()

    def __init__(self, *args: object, organizer: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if organizer:
            self.fields["announcement"] = forms.BooleanField(
                required=False,
                label="Announcement",
                help_text="Marked as an announcement from the organizers.",
            )


class ReplyForm(forms.Form):
    body = _body_field()
    quote = forms.IntegerField(required=False, widget=forms.HiddenInput)


class PostEditForm(forms.Form):
    body = _body_field()
