"""Markdown from organizers and participants, rendered and then sanitised.

Markdown passes raw HTML through, so its output is untrusted until nh3 has cleaned it:
no script, style, iframe, event handler or javascript: URL survives, and links get
rel="nofollow noopener".

Python-Markdown takes time quadratic in the length of some texts. Challenge texts (up to
100,000 characters) made that a denial of service, so every shape found slow is answered here
in linear time, with the same output: link scans, the queue of blocks, HTML tags, footnote
bookkeeping. Where Markdown's own design is quadratic, the work is bounded instead, and a text
past the bound is refused with MarkdownTooComplex and a sentence its author can act on: the
inline patterns rebuild a paragraph after every match (PARAGRAPH_MAX_CHARS), block processors
put the rest of a block back to be read again (BLOCK_REREAD_FACTOR), blockquotes re-read
their text at every level (QUOTE_MAX_DEPTH).
"""

from __future__ import annotations

import bisect
import re
import xml.etree.ElementTree as etree
from collections import deque
from html import escape as html_escape

import markdown
import nh3
from markdown.blockprocessors import BlockQuoteProcessor
from markdown.extensions import Extension
from markdown.extensions.footnotes import FootnoteExtension, FootnoteInlineProcessor
from markdown.extensions.md_in_html import HtmlBlockPreprocessor, HTMLExtractorExtra
from markdown.inlinepatterns import (
    ImageInlineProcessor,
    ImageReferenceInlineProcessor,
    LinkInlineProcessor,
    ReferenceInlineProcessor,
    ShortImageReferenceInlineProcessor,
    ShortReferenceInlineProcessor,
)
from markdown.treeprocessors import Treeprocessor
from markdown.util import AtomicString

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


# --- Texts refused --------------------------------------------------------------------------

TOO_DEEP = "The text nests too deeply (lists, quotes or definitions hundreds of levels deep)."
PARAGRAPH_TOO_LONG = (
    "A paragraph of the text is {length:,} characters long; the longest shown is {limit:,}. "
    "Split it with blank lines."
)
BLOCKS_TANGLED = (
    "The text has headings, rules or other blocks one after another in long runs of lines "
    "with no blank line between them, which take too long to render. Add blank lines."
)


class MarkdownTooComplex(ValueError):
    """The text nests too deeply, or has parts too long or tangled, to be rendered."""


# --- Blocks ---------------------------------------------------------------------------------

# A block processor that takes the head of a block puts the rest back, and the processors
# read that rest again: headings or rules one after another in a long run of lines (no blank
# line between them) took 52 s for 100,000 characters, about 18 ns a character read again.
# What is put back may add up to this many times the text plus the floor (0.4 s for 100,000
# characters); past that, the text is refused. Texts with blank lines put back little.
BLOCK_REREAD_FACTOR = 200
BLOCK_REREAD_FLOOR = 2_000_000


class _RereadBudget:
    """How many characters of put-back blocks one document's parse may still read again."""

    remaining: int | None = None

    def start(self, blocks: list[str]) -> None:
        if self.remaining is None:  # the first call parses the whole document
            self.remaining = BLOCK_REREAD_FACTOR * sum(map(len, blocks)) + BLOCK_REREAD_FLOOR

    def charge(self, characters: int) -> None:
        assert self.remaining is not None
        self.remaining -= characters
        if self.remaining < 0:
            raise MarkdownTooComplex(BLOCKS_TANGLED)


class _BlockQueue(deque[str]):
    """The blocks still to parse, with the list methods Markdown's block processors call.

    They take the first block with pop(0) and put what they leave back with insert(0, ...);
    on a list both move every other block, which made a text of many short paragraphs
    quadratic. A deque does both in constant time (its insert(0, ...) is an appendleft), and
    each block put back is charged to the document's _RereadBudget.
    """

    def __init__(self, blocks: list[str], budget: _RereadBudget) -> None:
        super().__init__(blocks)
        self.budget = budget

    def pop(self, index: int = -1) -> str:  # type: ignore[override]
        if index == 0:
            return self.popleft()
        if index == -1:
            return super().pop()
        block = self[index]
        del self[index]
        return block

    def insert(self, index: int, block: str) -> None:
        if index == 0:
            self.budget.charge(len(block))
        super().insert(index, block)


class _LinearBlocksExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        parse_blocks = md.parser.parseBlocks
        budget = _RereadBudget()

        def parse_blocks_queued(parent: etree.Element, blocks: list[str]) -> None:
            budget.start(blocks)
            parse_blocks(parent, _BlockQueue(blocks, budget))  # type: ignore[arg-type]

        # BlockParser offers no hook for its list of blocks. Every caller, Markdown's own
        # parseChunk included, passes a new list and reads nothing back from it.
        md.parser.parseBlocks = parse_blocks_queued  # type: ignore[method-assign]


# Deeper blockquotes are text. Markdown re-reads the whole rest of the text at each level, and
# stops only near Python's recursion limit (about 300 levels): 100,000 ">" took 1.4 s.
QUOTE_MAX_DEPTH = 32


class _ShallowBlockQuoteProcessor(BlockQuoteProcessor):
    depth = 0

    def test(self, parent: etree.Element, block: str) -> bool:
        return self.depth < QUOTE_MAX_DEPTH and super().test(parent, block)

    def run(self, parent: etree.Element, blocks: list[str]) -> None:
        self.depth += 1
        try:
            super().run(parent, blocks)
        finally:
            self.depth -= 1


class _ShallowQuotesExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.parser.blockprocessors.register(_ShallowBlockQuoteProcessor(md.parser), "quote", 20)


# --- Raw HTML -------------------------------------------------------------------------------

# html.parser's scans for the ends of start tags may read this many times the text in all;
# after that, a start tag must end within START_TAG_SCAN_LIMIT characters or it is text.
# No real text comes near the budget, and however hostile the text, the work stays linear.
START_TAG_SCAN_BUDGET = 4
START_TAG_SCAN_LIMIT = 256
# html.parser's scan for the end of a start tag stops at none of these characters, so where
# none follows, no tag can end (it stops at a ">", a "`" or NUL, or just after a ",").
_START_TAG_STOPS = (">", "`", "\x00", ",")


class _BoundedTagExtractor(HTMLExtractorExtra):
    """md_in_html's HTML extractor, without scanning the rest of the text again and again.

    At each "<" and letter, "</" or line-starting "<?", html.parser scans forward for the end
    of the tag; when there is none, Markdown keeps the "<" as text and the next one scans the
    rest of the text again: "<a " repeated took 110 s for 100,000 characters. Where the text
    holds no character that could end the tag, the answer is now known without a scan (the
    same answer), and start-tag scans are bounded as START_TAG_SCAN_BUDGET says.
    """

    def reset(self) -> None:
        super().reset()
        self._last_found: dict[str, tuple[str, int]] = {}
        self._scan_budget: int | None = None

    def _last(self, needle: str) -> int:
        """Where ``needle`` last occurs in the text being parsed (-1: nowhere)."""
        found = self._last_found.get(needle)
        if found is None or found[0] is not self.rawdata:
            found = self._last_found[needle] = (self.rawdata, self.rawdata.rfind(needle))
        return found[1]

    def check_for_whole_start_tag(self, i: int) -> int:
        if max(self._last(stop) for stop in _START_TAG_STOPS) <= i:
            return -1
        rawdata = self.rawdata
        if self._scan_budget is None:
            self._scan_budget = START_TAG_SCAN_BUDGET * len(rawdata)
        if self._scan_budget > 0:
            end = super().check_for_whole_start_tag(i)
            # An incomplete tag may have been read to the end of the text: count it so.
            self._scan_budget -= (end if end >= 0 else len(rawdata)) - i
            return end
        # html.parser's own check on a copy of the text that ends where the tag must: a tag
        # that runs to the end of the copy is incomplete there, so its "<" is text.
        self.rawdata = rawdata[i : i + START_TAG_SCAN_LIMIT]
        try:
            end = super().check_for_whole_start_tag(0)
        finally:
            self.rawdata = rawdata
        return end if end < 0 else i + end

    def parse_endtag(self, i: int) -> int:
        if self._last(">") <= i:
            # What html.parser's search would end in: no end tag, and Markdown keeps "</".
            self.handle_data(self.rawdata[i : i + 2])
            return i + 2
        return super().parse_endtag(i)

    def parse_pi(self, i: int) -> int:
        # md_in_html's condition for handing "<?" to html.parser, which would search for "?>".
        searches = self.at_line_start() or self.intail or self.mdstack
        if searches and self._last("?>") < i + 2:
            return -1
        return super().parse_pi(i)


class _BoundedHtmlBlockPreprocessor(HtmlBlockPreprocessor):
    def run(self, lines: list[str]) -> list[str]:
        parser = _BoundedTagExtractor(self.md)
        parser.feed("\n".join(lines))
        parser.close()
        return "".join(parser.cleandoc).split("\n")


class _BoundedHtmlExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.register(_BoundedHtmlBlockPreprocessor(md), "html_block", 20)


# --- Footnotes ------------------------------------------------------------------------------


class _LinearFootnotesExtension(FootnoteExtension):
    """Markdown's footnotes with their bookkeeping in dictionaries.

    Markdown numbers a reference by searching the list of footnotes, and gives the k-th
    reference to one footnote its id by trying fnref, fnref2, ... fnref{k} in turn: a text of
    references took 32 s for 100,000 characters. The ids and numbers are the same.
    """

    def reset(self) -> None:
        super().reset()
        self.definition_numbers: dict[str, int] = {}
        self.reference_numbers: dict[str, int] = {}
        self.last_unique_refs: dict[str, str] = {}

    def setFootnote(self, id: str, text: str) -> None:
        super().setFootnote(id, text)
        self.definition_numbers.setdefault(id, len(self.definition_numbers) + 1)

    def addFootnoteRef(self, id: str) -> None:
        if id not in self.reference_numbers:
            self.reference_numbers[id] = len(self.reference_numbers) + 1
            self.footnote_order.append(id)

    def unique_ref(self, reference: str, found: bool = False) -> str:
        if not found:
            return reference
        # Markdown walks fnref, fnref2, fnref3, ... from the start; continue where it stopped.
        unique = self.last_unique_refs.get(reference, reference)
        while unique in self.used_refs:
            unique = self._next_ref(unique)
        self.used_refs.add(unique)
        self.last_unique_refs[reference] = unique
        self.found_refs[reference] = self.found_refs.get(reference, 0) + 1
        return unique

    def _next_ref(self, reference: str) -> str:
        separator = self.get_separator()
        ref, rest = reference.split(separator, 1)
        numbered = re.match(r"(fnref)(\d+)", ref)
        if numbered:
            return f"{numbered.group(1)}{int(numbered.group(2)) + 1}{separator}{rest}"
        return f"{ref}2{separator}{rest}"

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        super().extendMarkdown(md)
        pattern = md.inlinePatterns["footnote"].pattern
        md.inlinePatterns.register(_LinearFootnoteInlineProcessor(pattern, self), "footnote", 175)


class _LinearFootnoteInlineProcessor(FootnoteInlineProcessor):
    footnotes: _LinearFootnotesExtension

    def handleMatch(  # type: ignore[override]
        self, m: re.Match[str], data: str
    ) -> tuple[etree.Element | None, int | None, int | None]:
        footnotes, key = self.footnotes, m.group(1)
        if key not in footnotes.footnotes:
            return None, None, None
        footnotes.addFootnoteRef(key)
        if footnotes.getConfig("USE_DEFINITION_ORDER"):
            number = footnotes.definition_numbers[key]
        else:
            number = footnotes.reference_numbers[key]
        sup = etree.Element("sup")
        link = etree.SubElement(sup, "a")
        sup.set("id", footnotes.makeFootnoteRefId(key, found=True))
        link.set("href", "#" + footnotes.makeFootnoteId(key))
        link.set("class", "footnote-ref")
        link.text = footnotes.getConfig("SUPERSCRIPT_TEXT").format(number)
        return sup, m.start(0), m.end(0)


# --- Paragraph length -----------------------------------------------------------------------

# The longest paragraph (or heading, list item, table cell) rendered. Markdown's inline
# patterns rebuild a paragraph's text after each match, quadratic in its length: 100,000
# characters of "*a*" took 8 s as one paragraph. Forum posts are never longer than this.
PARAGRAPH_MAX_CHARS = 10_000


class _ParagraphLengthCheck(Treeprocessor):
    """Refuse, before the inline patterns run, a text with a paragraph longer than the limit."""

    def run(self, root: etree.Element) -> None:
        for element in root.iter():
            for text in (element.text, element.tail):
                too_long = text and len(text) > PARAGRAPH_MAX_CHARS
                if too_long and not isinstance(text, AtomicString):
                    raise MarkdownTooComplex(
                        PARAGRAPH_TOO_LONG.format(length=len(text), limit=PARAGRAPH_MAX_CHARS)
                    )


class _ParagraphLengthExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        # After the footnotes are placed (50), before the inline patterns (20).
        md.treeprocessors.register(_ParagraphLengthCheck(md), "paragraph_length", 21)


# --- Rendering ------------------------------------------------------------------------------

# Markdown's "extra" without "abbr": every abbreviation definition re-scans the rest of its
# block, so a post of them took seconds to render, for a feature nobody writes in a forum.
# Footnotes come from _LinearFootnotesExtension below.
_EXTENSIONS = ("fenced_code", "attr_list", "def_list", "tables", "md_in_html")


def markdown_render_safe(source: str) -> str:
    """Render markdown to HTML that is safe to put in a page as is.

    For text rendered once and stored: forum posts, challenge texts. Raises
    MarkdownTooComplex, with a sentence its author can act on, for text that nests too deeply
    (hundreds of definition lists), has a paragraph longer than PARAGRAPH_MAX_CHARS, or has
    its blocks put back more than BLOCK_REREAD_FACTOR allows.
    """
    extensions = [
        *_EXTENSIONS,
        "sane_lists",
        # After md_in_html, whose HTML extractor it replaces.
        _BoundedHtmlExtension(),
        _LinearFootnotesExtension(),
        _LinearLinksExtension(),
        _LinearBlocksExtension(),
        _ShallowQuotesExtension(),
        _ParagraphLengthExtension(),
    ]
    try:
        html = markdown.markdown(source, extensions=extensions, output_format="html")
    except RecursionError as error:
        raise MarkdownTooComplex(TOO_DEEP) from error
    return nh3.clean(html, link_rel=LINK_REL, url_schemes=set(ALLOWED_URL_SCHEMES))


def markdown_to_safe_html(source: str) -> str:
    """Render markdown to HTML that is safe to put in a page as is; text too complex to
    render is shown as plain text instead."""
    try:
        return markdown_render_safe(source)
    except MarkdownTooComplex:
        return f"<pre>{html_escape(source)}</pre>"
