"""Template helpers shared by the site's pages."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from competitions.text import markdown_to_safe_html

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(source: str | None) -> SafeString:
    # The one place rendered markdown is marked safe: nh3 has sanitised it just before.
    return mark_safe(markdown_to_safe_html(source or ""))
