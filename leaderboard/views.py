"""Leaderboard pages: the Leaderboard tab of a challenge, its CSV export, gallery thumbnails,
and selecting submissions for the final ranking."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_POST
from PIL import Image

from competitions.tabs import TABS
from config.csv_export import SafeCSVWriter
from config.errors import ApplicationError
from config.parsing import query_int
from config.redirects import redirect_back
from leaderboard import ranking, selectors
from leaderboard.charts import best_score_chart
from leaderboard.services import submission_final_select
from scoring.engine.metrics import METRIC_DIRECTIONS, METRIC_HELP, METRICS, is_number
from scoring.models import Leaderboard
from submissions.selectors import submission_get_visible

THUMBNAIL_SIDE = 64
EXPORT_FORBIDDEN = "Only the challenge's organizers can export its leaderboards."


def leaderboard_page(request: HttpRequest, slug: str) -> HttpResponse:
    viewer = selectors.viewer_get(slug=slug, user=request.user)
    access = selectors.board_access(
        viewer=viewer, phase_name=request.GET.get("phase"), board=request.GET.get("board")
    )
    phase, board = access.phase, access.board
    context: dict[str, Any] = {
        "challenge": viewer.challenge,
        "tab": "leaderboard",
        "tabs": TABS,
        "participation": viewer.participation,
        "is_organizer": viewer.is_organizer,
        "phases": access.phases,
        "phase": phase,
        "board": board,
    }
    if phase is None:
        return render(request, "leaderboard/board.html", context)
    context["boards"] = [(name, label, access.visible[name]) for name, label in Leaderboard.choices]
    if access.refusal is not None:
        context["hidden_message"] = access.refusal
        return render(request, "leaderboard/board.html", context, status=403)
    page = selectors.board_page(
        viewer=viewer,
        phase=phase,
        board=board,
        user=request.user,
        page=query_int(request.GET.get("page")) or 1,
        sort=request.GET.get("sort", ""),
    )
    summary = page.summary
    # The rule's own metrics first, so that what decides the order is in view.
    metrics = list(dict.fromkeys([*page.rule.metrics, *METRICS]))
    gallery = reverse("challenge_leaderboard", args=[viewer.challenge.slug]) + "gallery/"
    user_pk = request.user.pk
    rows = [_row(row, metrics, page, user_pk, gallery, page.thumbnails) for row in page.rows]
    if page.own:
        rows.insert(0, _row(page.own, metrics, page, user_pk, gallery, {}, pinned=True))
    ranked = page.rule.interval_metric
    context.update(
        {
            "view": page,
            "rows": rows,
            "columns": _columns(metrics, phase.name, board, page.sort),
            "chart": best_score_chart(
                rule=page.rule,
                history=summary.history if summary else [],
                baselines=summary.baselines if summary else [],
                until=min(timezone.now(), phase.ends_at),
            ),
            "uncalibrated": any(not row.calibrated for row in page.rows),
            "score_column": page.rule.kind in (ranking.WEIGHTED, ranking.AVERAGE_RANK),
            "intervals_shown": ranked is not None
            and any(ranked in row.intervals for row in page.rows),
            "disqualify_url": reverse("admin:leaderboard_disqualification_add"),
            "query": urlencode({"phase": phase.name, "board": board, "sort": page.sort}),
        }
    )
    return render(request, "leaderboard/board.html", context)


def _row(
    entry: selectors.Row,
    metrics: list[str],
    page: selectors.BoardPage,
    user_pk: int | None,
    gallery: str,
    thumbnails: dict[Any, list[int]],
    *,
    pinned: bool = False,
) -> dict[str, Any]:
    """What the template shows of an entry, formatted here: a page has hundreds of cells."""
    own = entry.participant_id == user_pk and not entry.is_baseline
    classes = [
        name
        for name, on in (("own", own), ("baseline", entry.is_baseline), ("pinned", pinned))
        if on
    ]
    return {
        "entry": entry,
        "pinned": pinned,
        "classes": " ".join(classes),
        "score": _shown("score", entry.score),
        "values": _values(entry, metrics, page),
        # The URLs of `leaderboard_gallery_image`, built without a reverse() per image.
        "thumbnails": [
            f"{gallery}{entry.submission_id}/{position}.png"
            for position in thumbnails.get(entry.submission_id, [])
        ],
        "last": timezone.localtime(entry.last_submitted_at).strftime("%Y-%m-%d %H:%M"),
    }


def _values(
    entry: selectors.Row, metrics: list[str], page: selectors.BoardPage
) -> list[dict[str, Any]]:
    """The metric cells: each number; the ranked score also with ± the half-width of its 95 %
    interval (the exact bounds in its tooltip) and whether it is statistically tied with #1."""
    ranked = page.rule.interval_metric
    tied = selectors.tied_with_leader(rule=page.rule, leader=page.leader, row=entry)
    cells = []
    for name in metrics:
        text = _shown(name, entry.scores[name])
        interval = entry.intervals.get(name) if name == ranked and text is not None else None
        cells.append(
            {
                "text": text,
                "half": f"{(interval[1] - interval[0]) / 2:.2g}" if interval else None,
                "bounds": f"[{interval[0]:.4g}, {interval[1]:.4g}]" if interval else None,
                "tied": tied and name == ranked,
            }
        )
    return cells


def _shown(name: str, value: float | None) -> str | None:
    """A number as the page shows it; None (shown as n/a) when missing or not finite."""
    if not is_number(value):
        return None
    return f"{value:,.0f}" if name == "params" else f"{value:.4g}"


def _columns(metrics: list[str], phase: str, board: str, sort: str) -> list[dict[str, Any]]:
    """A header per metric with its direction and the link that sorts by it (again: reversed)."""
    return [
        {
            "name": name,
            "direction": METRIC_DIRECTIONS[name].value,
            "help": METRIC_HELP[name],
            "sorted": sort.removeprefix("-") == name,
            "href": "?"
            + urlencode(
                {"phase": phase, "board": board, "sort": f"-{name}" if sort == name else name}
            ),
        }
        for name in metrics
    ]


def leaderboard_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """Both leaderboards, all rows, for the organizers (`?phase=NAME&board=public|private`)."""
    viewer = selectors.viewer_get(slug=slug, user=request.user)
    if not viewer.is_organizer:
        return HttpResponseForbidden(EXPORT_FORBIDDEN)
    access = selectors.board_access(
        viewer=viewer, phase_name=request.GET.get("phase"), board=request.GET.get("board")
    )
    phase, board = access.phase, access.board
    if phase is None or access.refusal is not None:
        raise Http404(selectors.NO_SUCH_BOARD)
    rows = selectors.leaderboard_rows(phase=phase, board=board)
    # Bounds of the 95 % intervals, last so that the earlier columns keep their places: a
    # `_low` and a `_high` column for each metric some row has an interval of.
    bounded = [name for name in METRICS if any(name in row.intervals for row in rows)]
    buffer = io.StringIO()
    writer = SafeCSVWriter(buffer)
    writer.writerow(
        [
            "rank",
            "participant",
            "submission",
            "is_baseline",
            "selection",
            "score",
            *METRICS,
            "calibrated",
            "stale",
            "submissions",
            "last_submitted_at",
            *(f"{name}_{end}" for name in bounded for end in ("low", "high")),
        ]
    )
    for row in rows:
        writer.writerow(
            [
                row.rank or "",
                row.participant,
                row.submission_id,
                int(row.is_baseline),
                row.selection,
                _cell(row.score),
                *(_cell(row.scores[name]) for name in METRICS),
                int(row.calibrated),
                int(row.stale),
                row.submission_count,
                row.last_submitted_at.isoformat(),
                *(
                    _cell(bound)
                    for name in bounded
                    for bound in row.intervals.get(name, (None, None))
                ),
            ]
        )
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"{viewer.challenge.slug}-{slugify(phase.name)}-{board}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _cell(value: float | None) -> float | str:
    """A number as a number (written in full, as repr does), so the CSV writer never takes a
    negative value for text to escape."""
    return "" if value is None else float(value)


def leaderboard_gallery_image(
    request: HttpRequest, slug: str, pk: str, position: int
) -> HttpResponse:
    """A thumbnail of a ranked submission's output on a public photo."""
    viewer = selectors.viewer_get(slug=slug, user=request.user)
    image = selectors.gallery_image_for_leaderboard(
        viewer=viewer, submission_id=pk, position=position
    )
    with default_storage.open(image.file.name, "rb") as handle:
        thumbnail = Image.open(handle)
        thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        buffer = io.BytesIO()
        thumbnail.save(buffer, format="PNG")
    response = HttpResponse(buffer.getvalue(), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_POST
def submission_final_select_view(request: HttpRequest, pk: str) -> HttpResponse:
    submission = submission_get_visible(pk=pk, user=request.user)
    selected = request.POST.get("selected") == "1"
    try:
        submission_final_select(submission=submission, user=request.user, selected=selected)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            "Selected for the final ranking."
            if selected
            else "No longer selected for the final ranking.",
        )
    return redirect_back(request, submission)
