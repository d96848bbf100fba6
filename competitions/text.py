"""Markdown from organizers and participants, rendered and then sanitised.

Markdown passes raw HTML through, so its output is untrusted until nh3 has cleaned it:
no script, style, iframe, event handler or javascript: URL survives, and links get
rel="nofollow noopener".
"""

from __future__ import annotations

import bisect
import re
from functools import lru_cache
from html import escape as html_escape

import markdown
import nh3
from markdown.extensions import Extension
from markdown.inlinepatterns import (
    ImageInlineProcessor,
    ImageReferenceInlineProcessor,
    LinkInlineProcessor,
    ReferenceInlineProcessor,
    ShortImageReferenceInlineProcessor,
    ShortReferenceInlineProcessor,
)

ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener"

# The characters Markdown's link scans look at: brackets, parentheses and title quotes.
_LINK_MARKS = re.compile(r"[\[\]()'\"]")
# Past this many characters, a link destination with a title quote in it is not a link.
LINK_TITLE_SCAN_LIMIT = 300


class _LinkMarks:
    """Where each "[" and "(" of a text is closed, and where its quotes are: one pass.

    Positions are kept as distances from the end of the text: Markdown replaces what it has
    matched with placeholders, which changes the text before a position but never after it,
    so the table stays valid for every later text that ends the same way.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.closes: dict[int, int] = {}
        quotes: list[int] = []
        opened: dict[str, list[int]] = {"[": [], "(": []}
        for match in _LINK_MARKS.finditer(text):
            mark, distance = match.group(), len(text) - match.start()
            if mark in opened:
                opened[mark].append(distance)
            elif mark in "])":
                stack = opened["[" if mark == "]" else "("]
                if stack:
                    self.closes[stack.pop()] = distance
            else:
                quotes.append(distance)
        self.quotes = quotes[::-1]

    def quote_between(self, start: int, end: int, length: int) -> bool:
        """Whether a quote lies at a position in [start, end) of a text of this length."""
        first = bisect.bisect_right(self.quotes, length - end)
        return first < len(self.quotes) and self.quotes[first] <= length - start


class _LinearLinks:
    """Markdown's link scans in linear time, with the same results.

    Markdown scans forward from every "[" for its "]" and from every "](" for its ")", so a
    20,000-character post of unmatched brackets took minutes of CPU. These scans are
    answered from one table per text instead; only a destination with a title quote in it
    is still scanned character by character, and that scan stops after
    LINK_TITLE_SCAN_LIMIT characters.
    """

    _marks: _LinkMarks | None = None

    def _marks_for(self, data: str, position: int) -> _LinkMarks:
        marks = self._marks
        if marks is None or not (marks.text is data or marks.text.endswith(data[position:])):
            marks = self._marks = _LinkMarks(data)
        return marks

    def getText(self, data: str, index: int) -> tuple[str, int, bool]:
        opening = index - 1
        if opening < 0 or data[opening] != "[":
            return super().getText(data, index)  # type: ignore[misc]
        close = self._marks_for(data, opening).closes.get(len(data) - opening)
        if close is None:
            return data[index:], len(data), False
        end = len(data) - close
        return data[index:end], end + 1, True

    def getLink(self, data: str, index: int) -> tuple[str, str | None, int, bool]:
        match = self.RE_LINK.match(data, pos=index)  # type: ignore[attr-defined]
        if match is None or match.group(1):
            return super().getLink(data, index)  # type: ignore[misc]
        marks = self._marks_for(data, index)
        start, length = match.end(), len(data)
        close = marks.closes.get(length - index)
        end = length if close is None else length - close
        if marks.quote_between(start, end, length):
            limited = data[: start + LINK_TITLE_SCAN_LIMIT]
            return super().getLink(limited, index)  # type: ignore[misc]
        if close is None:
            return "", None, length, False
        return self.unescape(data[start:end]).strip(), None, end + 1, True  # type: ignore[attr-defined]


# Markdown's own link processors, by registered name, with their documented priorities.
_LINK_PROCESSORS = {
    "reference": (ReferenceInlineProcessor, 170),
    "link": (LinkInlineProcessor, 160),
    "image_link": (ImageInlineProcessor, 150),
    "image_reference": (ImageReferenceInlineProcessor, 140),
    "short_reference": (ShortReferenceInlineProcessor, 130),
    "short_image_ref": (ShortImageReferenceInlineProcessor, 125),
}
_LINEAR_CLASSES = {
    name: type(f"Linear{base.__name__}", (_LinearLinks, base), {})
    for name, (base, _) in _LINK_PROCESSORS.items()
}


class _LinearLinksExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        for name, (_, priority) in _LINK_PROCESSORS.items():
            pattern = md.inlinePatterns[name].pattern
            md.inlinePatterns.register(_LINEAR_CLASSES[name](pattern, md), name, priority)


# Markdown's "extra" without "abbr": every abbreviation definition re-scans the rest of its
# block, so a post of them took seconds to render, for a feature nobody writes in a forum.
_EXTENSIONS = ("fenced_code", "footnotes", "attr_list", "def_list", "tables", "md_in_html")


class MarkdownTooComplex(ValueError):
    """The text nests deeper than Markdown's recursive parser can follow."""


def markdown_render_safe(source: str) -> str:
    """Render markdown to HTML that is safe to put in a page as is.

    Not cached: for text rendered once and stored, such as forum posts. Raises
    MarkdownTooComplex for text that nests too deeply (hundreds of definition lists).
    """
    extensions = [*_EXTENSIONS, "sane_lists", _LinearLinksExtension()]
    try:
        html = markdown.markdown(source, extensions=extensions, output_format="html")
    except RecursionError as error:
        raise MarkdownTooComplex(str(error)) from error
    return nh3.clean(html, link_rel=LINK_REL, url_schemes=set(ALLOWED_URL_SCHEMES))


@lru_cache(maxsize=512)
def markdown_to_safe_html(source: str) -> str:
    """Render markdown to HTML that is safe to put in a page as is; text too deeply nested
    to render is shown as plain text rather than failing the page."""
    try:
        return markdown_render_safe(source)
    except MarkdownTooComplex:
        return f"<pre>{html_escape(source)}</pre>"
