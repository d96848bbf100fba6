"""Markdown rendering time on hostile texts: CPU seconds at three lengths, and the growth.

Each shape is a unit repeated to the length, with a blank line every so often where the shape
says so. Linear work doubles with the length ("growth" about 2.0); quadratic work quadruples.
A text refused with MarkdownTooComplex (nested too deeply, a paragraph too long, blocks put
back too often) is marked "refused", after the time it took to find out.

Target: every shape at 100,000 characters (ATELIER_MARKDOWN_MAX_CHARS) in under 2 s of CPU,
with growth under 2.5.

    .venv/bin/python benchmarks/markdown_render.py [--lengths 25000 50000 100000] [SHAPE ...]
"""

from __future__ import annotations

import argparse
import time

from config.markdown import MarkdownTooComplex, markdown_render_safe

# name: (unit, characters between blank lines or None, text before the repeats, text after)
SHAPES: dict[str, tuple[str, int | None, str, str]] = {
    "short paragraphs": ("a\n\n", None, "", ""),
    "nested quotes": (">", None, "", ""),
    "nested lists": ("- * > ", None, "", ""),
    "list items": ("- a\n", None, "", ""),
    "table rows": ("|a|b|\n", None, "|a|b|\n|-|-|\n", ""),
    "definition lists": ("a\n: b\n", 600, "", ""),
    "links": ("[a](http://x) ", 5_000, "", ""),
    "emphasis": ("*a* ", 5_000, "", ""),
    "emphasis runs": ("*a*", 5_000, "", ""),
    "emphasis runs, one paragraph": ("*a*", None, "", ""),
    "escapes, one paragraph": ("\\*", None, "", ""),
    "backticks": ("`a` ", 5_000, "", ""),
    "brackets": ("[", 5_000, "", ""),
    "brackets and backticks": ("[`]`[`", 5_000, "", ""),
    "inline html": ("<b>", 5_000, "", ""),
    "unclosed start tags": ("<a ", None, "", ""),
    "unclosed start tags, one far end": ("<a ", None, "", "x='>"),
    "start tags, one per line": ("<a\n", None, "", ""),
    "end tags": ("</a ", None, "", ""),
    "processing instructions": ("<?x\n", None, "", ""),
    "footnote references": ("[^1] ", 5_000, "[^1]: note\n\n", ""),
    "footnote definitions": ("[^1]: b\n\n[^1]\n\n", None, "", ""),
    "setext headings in one run": ("a\n=\n", None, "", ""),
    "rules in one run": ("---\n", None, "", ""),
    "headings in one run": ("# a\n", None, "", ""),
}


def shape_text(name: str, length: int) -> str:
    unit, paragraph, before, after = SHAPES[name]
    if paragraph is not None:
        unit = unit * max(1, paragraph // len(unit)) + "\n\n"
    body_length = length - len(before) - len(after)
    return before + (unit * (body_length // len(unit) + 1))[:body_length] + after


def render_seconds(text: str) -> tuple[float, bool]:
    """CPU seconds to render the text, and whether it was refused."""
    started = time.process_time()
    try:
        markdown_render_safe(text)
    except MarkdownTooComplex:
        return time.process_time() - started, True
    return time.process_time() - started, False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shapes", nargs="*", metavar="SHAPE", help="default: all of them")
    parser.add_argument("--lengths", nargs="+", type=int, default=[25_000, 50_000, 100_000])
    arguments = parser.parse_args()
    unknown = set(arguments.shapes) - set(SHAPES)
    if unknown:
        parser.error(f"unknown shape(s): {', '.join(sorted(unknown))}; known: {', '.join(SHAPES)}")
    header = " | ".join(f"{length:>9,}" for length in arguments.lengths)
    print(f"{'shape':34} {header} | growth")
    for name in arguments.shapes or SHAPES:
        times, refused = zip(
            *(render_seconds(shape_text(name, length)) for length in arguments.lengths),
            strict=True,
        )
        cells = " | ".join(f"{seconds:8.3f}s" for seconds in times)
        growth = times[-1] / max(times[-2], 1e-3)
        print(f"{name:34} {cells} | {growth:5.2f}{'  refused' if refused[-1] else ''}")


if __name__ == "__main__":
    main()
