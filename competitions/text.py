"""Markdown from organizers and participants, rendered and then sanitised.

Markdown passes raw HTML through, so its output is untrusted until nh3 has cleaned it:
no script, style, iframe, event handler or javascript: URL survives, and links get
rel="nofollow noopener".
"""

from __future__ import annotations

from functools import lru_cache

import markdown
import nh3

ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener"


@lru_cache(maxsize=512)
def markdown_to_safe_html(source: str) -> str:
    """Render markdown to HTML that is safe to put in a page as is."""
    html = markdown.markdown(source, extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(html, link_rel=LINK_REL, url_schemes=set(ALLOWED_URL_SCHEMES))
