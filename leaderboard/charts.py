"""The best score over time as an inline SVG, drawn on the server without dependencies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from leaderboard.ranking import RankingRule

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 16, 32
NO_DATA = "No scored submission on this leaderboard yet."


def best_score_chart(
    *,
    rule: RankingRule,
    history: Sequence[Sequence[Any]],
    baselines: Sequence[Sequence[Any]],
    until: dt.datetime,
) -> SafeString:
    """A step line of the best score so far, from the first scored submission to `until`,
    with each baseline as a dashed reference line."""
    if not history:
        return format_html('<p class="hint">{}</p>', NO_DATA)
    times = [dt.datetime.fromisoformat(point[0]) for point in history]
    values = [float(point[1]) for point in history]
    end = max(until, times[-1])
    start = times[0]
    reference = [float(value) for _, value in baselines]
    low, high = min(values + reference), max(values + reference)
    if high == low:
        low, high = low - 0.5, high + 0.5
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad
    span = (end - start).total_seconds() or 1.0

    def x(at: dt.datetime) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (at - start).total_seconds() / span

    def y(value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (high - value) / (high - low)

    path = f"M{x(times[0]):.1f} {y(values[0]):.1f}"
    for at, value in zip(times[1:], values[1:], strict=True):
        path += f" H{x(at):.1f} V{y(value):.1f}"
    path += f" H{x(end):.1f}"
    label = "weighted score" if rule.chart_metric is None else rule.chart_metric
    title = f"Best {label} over time ({rule.chart_direction.value} is better)"
    lines = format_html_join(
        "",
        '<line class="baseline" x1="{0}" x2="{1}" y1="{2}" y2="{2}"><title>{3}: {4}</title>'
        '</line><text class="baseline-label" x="{1}" y="{5}" text-anchor="end">{3}</text>',
        (
            (LEFT, WIDTH - RIGHT, f"{y(value):.1f}", name, f"{value:.4g}", f"{y(value) - 4:.1f}")
            for name, value in baselines
        ),
    )
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="3"><title>{} · {}</title></circle>',
        (
            (f"{x(at):.1f}", f"{y(value):.1f}", f"{value:.4g}", at.strftime("%Y-%m-%d %H:%M"))
            for at, value in zip(times, values, strict=True)
        ),
    )
    return format_html(
        '<figure class="chart"><svg viewBox="0 0 {w} {h}" role="img" aria-label="{title}">'
        "<title>{title}</title>"
        '<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>'
        '<line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>'
        '<text x="{label_x}" y="{top_label}" text-anchor="end">{high}</text>'
        '<text x="{label_x}" y="{bottom}" text-anchor="end">{low}</text>'
        '<text x="{left}" y="{h}" text-anchor="start">{first}</text>'
        '<text x="{right}" y="{h}" text-anchor="end">{last}</text>'
        '{lines}<path class="best" d="{path}"/>{dots}</svg>'
        "<figcaption>{title}: {best} now.</figcaption></figure>",
        w=WIDTH,
        h=HEIGHT,
        title=title,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        bottom=HEIGHT - BOTTOM,
        label_x=LEFT - 6,
        top_label=TOP + 8,
        high=f"{high:.4g}",
        low=f"{low:.4g}",
        first=start.strftime("%Y-%m-%d"),
        last=end.strftime("%Y-%m-%d"),
        lines=lines,
        path=path,
        dots=dots,
        best=f"{values[-1]:.4g}",
    )
