"""The markdown renderer: Python-Markdown's output, in time linear in the text's length.

Python-Markdown is quadratic on some texts; config.markdown answers each shape found slow
in linear time (see its docstring). These tests hold it to that: its output is Markdown's own
on random texts, every formerly slow shape renders at the size limit within a generous
budget, and on hostile texts that Hypothesis makes up, four times the text takes about four
times as long, never sixteen. Times are CPU seconds of this process, so a machine busy with
other work does not fail them.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable

import markdown
import nh3
import pytest
from django.conf import settings
from hypothesis import HealthCheck, Phase, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from config.markdown import (
    ALLOWED_URL_SCHEMES,
    BLOCKS_TANGLED,
    LINK_REL,
    PARAGRAPH_MAX_CHARS,
    PARAGRAPH_TOO_LONG,
    QUOTE_MAX_DEPTH,
    START_TAG_SCAN_LIMIT,
    MarkdownTooComplex,
    _LinearLinksExtension,
    markdown_render_safe,
)

# CPU seconds allowed per character, over five times what the slowest shape takes (definition
# lists: 1.4 s for 100,000 characters), and a constant for Markdown's own set-up.
SECONDS_PER_CHAR = 8.0 / 100_000
SECONDS_FIXED = 0.5
# Linear work grows 4 times from SMALL to 4 * SMALL characters, quadratic work 16 times.
SMALL = 12_500
GROWTH_LIMIT = 10


def render_seconds(text: str, repeats: int = 1) -> float:
    """CPU seconds to render the text, or to refuse it as too complex; the least of `repeats`
    runs (a first run can pay one-off costs, such as a pattern compiled on first use)."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        with contextlib.suppress(MarkdownTooComplex):
            markdown_render_safe(text)
        times.append(time.process_time() - started)
    return min(times)


def repeated(unit: str, length: int, paragraph: int | None = None) -> str:
    """``unit`` repeated to ``length`` characters, with a blank line every ``paragraph``."""
    if paragraph is not None:
        unit = unit * max(1, paragraph // len(unit)) + "\n\n"
    return (unit * (length // len(unit) + 1))[:length]


# --- Markdown's own output ------------------------------------------------------------------

PIECES = [
    *"[[]]((()))!ab \n*`<>:^\"'_=,/",
    "http://x",
    "[a]: http://y\n",
    "\n\n",
    "[^1]",
    "[^2]",
    "[^1]: note\n",
    "\n[^2]: other\n\n",
    "![i](j)",
    "[a][b]",
    "[b]: /z\n",
    "<b>",
    "</b>",
    "<div>",
    "</div>",
    "<span x='1'>",
    "</span>",
    "<a ",
    "</a",
    "<?p ?>",
    "<?x",
    "<!-- c -->",
    "<!x>",
    "> ",
    ">> ",
    "- ",
    "* ",
    "1. ",
    "    ",
    "](",
    ' "t")',
    "\\(",
    "\\[",
    "<http://u>",
    "```\n",
    "|a|b|\n|-|-|\n",
    "term\n: def\n",
    "{: .c }",
    "&amp;",
    "\t",
    "\x00",
]


def markdowns_own(text: str) -> str:
    """What Python-Markdown itself renders, with the extensions config.markdown uses."""
    extensions = ["fenced_code", "footnotes", "attr_list", "def_list", "tables", "md_in_html"]
    html = markdown.markdown(
        text,
        extensions=[*extensions, "sane_lists", _LinearLinksExtension()],
        output_format="html",
    )
    return nh3.clean(html, link_rel=LINK_REL, url_schemes=set(ALLOWED_URL_SCHEMES))


def test_the_renderer_gives_markdowns_own_output() -> None:
    rng = random.Random(20261130)
    for _ in range(1_000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(5, 120)))
        assert markdown_render_safe(text) == markdowns_own(text), text


def test_footnotes_referenced_many_times_keep_their_numbers_and_ids() -> None:
    text = "a[^x] b[^y] c[^x] d[^x]\n\n[^y]: why\n[^x]: ex\n"
    html = markdown_render_safe(text)
    assert html == markdowns_own(text)
    assert html.count('href="#fn:x"') == 3
    assert 'href="#fnref3:x"' in html


# --- Where it differs, and why --------------------------------------------------------------


def test_a_paragraph_longer_than_the_limit_is_refused() -> None:
    text = "word " * (PARAGRAPH_MAX_CHARS // 5) + "and more"
    with pytest.raises(MarkdownTooComplex) as caught:
        markdown_render_safe(text)
    assert str(caught.value) == PARAGRAPH_TOO_LONG.format(
        length=len(text), limit=PARAGRAPH_MAX_CHARS
    )
    # Code blocks are not paragraphs: nothing in them is parsed.
    assert markdown_render_safe("```\n" + "x = 1\n" * 5_000 + "```\n").startswith("<pre><code>")


def test_headings_in_one_endless_run_of_lines_are_refused() -> None:
    with pytest.raises(MarkdownTooComplex) as caught:
        markdown_render_safe("# Heading\n---\n" * 10_000)
    assert str(caught.value) == BLOCKS_TANGLED
    # The same with blank lines, or a few hundred of them in a run, render.
    assert markdown_render_safe("# Heading\n\n---\n\n" * 10_000).count("<hr>") == 10_000
    assert markdown_render_safe("## Rule\nText.\n" * 300).count("<h2>") == 300


def test_quotes_nested_deeper_than_the_limit_are_text() -> None:
    html = markdown_render_safe(">" * (QUOTE_MAX_DEPTH + 3) + " deep")
    assert html.count("<blockquote>") == QUOTE_MAX_DEPTH
    assert "<p>&gt;&gt;&gt; deep</p>" in html


@pytest.mark.parametrize(
    "text",
    [
        f'<div title="{"t" * 2 * START_TAG_SCAN_LIMIT}">\n*raw*\n</div>\n',
        "<div " + " ".join(f'data-{n}="{n}"' for n in range(100)) + ">\n*raw*\n</div>\n",
        f'<img src="https://example.org/{"u" * 2 * START_TAG_SCAN_LIMIT}.png" alt="x">',
    ],
    ids=["long-attribute", "many-attributes", "long-url"],
)
def test_long_start_tags_are_still_tags(text: str) -> None:
    """START_TAG_SCAN_LIMIT applies only once a text has spent its scanning budget."""
    assert markdown_render_safe(text) == markdowns_own(text)


# --- Time -----------------------------------------------------------------------------------

# Before config.markdown handled them, each took from 20 s (headings) to 12 minutes
# (footnote references) of CPU for 100,000 characters; now about a second at most.
CATASTROPHIC_SHAPES = {
    "unclosed start tags": lambda length: repeated("<a ", length),
    # Every "<a" reads to the ">" at the end and fails at "x='" just before it.
    "unclosed start tags, one far end": lambda length: repeated("<a ", length - 4) + "x='>",
    "start tags, one per line": lambda length: repeated("<a\n", length),
    "footnote references": lambda length: "[^1]: note\n\n" + repeated("[^1] ", length - 12, 5_000),
    "footnote definitions": lambda length: repeated("[^1]: b\n\n[^1]\n\n", length),
    "setext headings in one run": lambda length: repeated("a\n=\n", length),
    "rules in one run": lambda length: repeated("---\n", length),
    "headings in one run": lambda length: repeated("# a\n", length),
}


@pytest.mark.slow
@pytest.mark.parametrize("build", CATASTROPHIC_SHAPES.values(), ids=CATASTROPHIC_SHAPES.keys())
def test_formerly_catastrophic_texts_take_at_most_seconds_at_the_size_limit(
    build: Callable[[int], str],
) -> None:
    limit = settings.ATELIER_MARKDOWN_MAX_CHARS
    assert render_seconds(build(limit)) < SECONDS_FIXED + SECONDS_PER_CHAR * limit


HOSTILE_PIECES = [
    "a",
    " ",
    "\n",
    "\n\n",
    ">",
    "> ",
    "- ",
    "* ",
    "1. ",
    "    ",
    "[",
    "]",
    "(",
    ")",
    "![",
    "](",
    "`",
    "*",
    "_",
    "\\",
    "\\*",
    "<a ",
    "<a",
    "</a ",
    "<?x",
    "<!--",
    "&",
    "&a;",
    "[^1]",
    "[^1]: n\n\n",
    "|",
    "|-|\n",
    ":",
    "'",
    '"',
    "=",
    "http://x",
    "<http://x>",
    "# ",
    "\n=\n",
    "\n---\n",
    "\n: ",
]


@pytest.mark.slow
@hypothesis_settings(
    max_examples=25,
    deadline=None,
    # Shrinking re-runs failing examples, which are slow by definition.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    unit=st.lists(st.sampled_from(HOSTILE_PIECES), min_size=1, max_size=8).map("".join),
    paragraph=st.sampled_from([None, 600, 5_000]),
)
# Quadratic before config.markdown handled them: 8 to 10 s for 100,000 characters.
@example(unit="*a*", paragraph=None)
@example(unit="\\*", paragraph=None)
@example(unit="<b>", paragraph=None)
# The most work per character now.
@example(unit="a\n: b\n", paragraph=600)
@example(unit="[`]`[`", paragraph=5_000)
@example(unit="|a|b|\n|-|-|\n", paragraph=None)
@example(unit="a\n\n", paragraph=None)
@example(unit="> - * ", paragraph=None)
def test_rendering_time_grows_linearly(unit: str, paragraph: int | None) -> None:
    small = render_seconds(repeated(unit, SMALL, paragraph), repeats=2)
    large = render_seconds(repeated(unit, 4 * SMALL, paragraph), repeats=2)
    assert large < SECONDS_FIXED + SECONDS_PER_CHAR * 4 * SMALL
    assert large < GROWTH_LIMIT * small + SECONDS_FIXED / 2, (small, large)
