"""Reads for leaderboards: who may see which board, its rows in a few constant queries."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, OuterRef
from django.http import Http404
from django.utils import timezone

from competitions.models import Challenge, Participation, Phase
from competitions.selectors import challenges_organized_by, challenges_visible_to
from leaderboard import ranking
from leaderboard.models import LeaderboardEntry, LeaderboardSummary
from scoring.engine.intervals import intervals_read
from scoring.engine.metrics import METRIC_DIRECTIONS, METRICS, Direction, is_number
from scoring.models import GalleryImage, Leaderboard

AnyUser = AbstractBaseUser | AnonymousUser

PRIVATE_HIDDEN = "The private leaderboard is revealed by the organizers once the phase has ended."
NO_PHASE = "This challenge has no phase yet."
NO_SUCH_BOARD = "No such leaderboard."
PAGE_SIZE = 50
THUMBNAILS_PER_ENTRY = 3

_ROW_FIELDS = (
    "pk",
    "participant_id",
    "participant__username",
    "submission_id",
    "submission__description",
    "is_baseline",
    "selection",
    "score",
    "submission_count",
    "last_submitted_at",
    "result__calibrated",
    "result__stale",
    "result__intervals",
    *(f"result__{name}" for name in METRICS),
)


@dataclass(slots=True)
class Row:
    """A leaderboard row as pages, the API and exports show it."""

    rank: int | None
    participant_id: int
    participant: str
    submission_id: Any
    description: str
    is_baseline: bool
    selection: str
    score: float | None
    submission_count: int
    last_submitted_at: dt.datetime
    calibrated: bool
    stale: bool
    scores: dict[str, float | None]
    # Metric → (low, high), the 95 % bootstrap interval; only the metrics that have one (none
    # for results scored before intervals existed).
    intervals: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the challenge, their role in it, their participation."""

    challenge: Challenge
    is_organizer: bool
    participation: Participation | None

    @property
    def may_see_gallery(self) -> bool:
        """Outputs on the public photos: for those who may download the photos themselves."""
        return self.is_organizer or (
            self.participation is not None and self.participation.is_approved
        )


def viewer_get(*, slug: str, user: AnyUser) -> Viewer:
    """The visible challenge with the user's role in it (404 for drafts of others)."""
    challenges = challenges_visible_to(user).filter(slug=slug)
    if user.is_authenticated:
        challenges = challenges.annotate(
            organizes=Exists(challenges_organized_by(user).filter(pk=OuterRef("pk"))),
        )
    challenge = challenges.first()
    if challenge is None:
        raise Http404("No such challenge.")
    participation = None
    if user.is_authenticated:
        participation = Participation.objects.filter(user=user, challenge=challenge).first()
    return Viewer(challenge, bool(getattr(challenge, "organizes", False)), participation)


def phase_for_leaderboard(*, phases: list[Phase], name: str | None) -> Phase | None:
    """The phase asked for by name (404 if unknown); else the open one, else the one that
    started last, else the first to come."""
    if name:
        for phase in phases:
            if phase.name == name:
                return phase
        raise Http404("No such phase.")
    now = timezone.now()
    started = [phase for phase in phases if phase.starts_at <= now]
    current = [phase for phase in started if now < phase.ends_at]
    if current or started:
        return (current or started)[-1]
    return phases[0] if phases else None


def board_visible(*, phase: Phase, board: str, is_organizer: bool) -> bool:
    """The public leaderboard for everyone; the private one for organizers, and for everyone
    once the phase has ended and the organizers revealed it."""
    if board == Leaderboard.PUBLIC:
        return True
    return board == Leaderboard.PRIVATE and (is_organizer or phase.private_revealed)


@dataclass(frozen=True)
class BoardAccess:
    """The leaderboard a request resolves to, and what of it the viewer may read."""

    phases: list[Phase]
    phase: Phase | None
    board: str
    # Each board of the phase → whether the viewer may read it; empty without a phase.
    visible: dict[str, bool]

    @property
    def refusal(self) -> str | None:
        """Why the viewer may not read the board, as a sentence for them; None if they may."""
        if self.phase is None:
            return NO_PHASE
        if not self.visible[self.board]:
            return PRIVATE_HIDDEN
        return None


def board_access(*, viewer: Viewer, phase_name: str | None, board: str | None) -> BoardAccess:
    """The phase asked for (see `phase_for_leaderboard`) and the board (public unless asked;
    404 if unknown), with whether the viewer may read each board of the phase.

    The page, the API and the CSV export all resolve a request here, so that they never
    disagree on which board is shown, nor on who may see it."""
    phases = list(viewer.challenge.phases.all())
    phase = phase_for_leaderboard(phases=phases, name=phase_name)
    board = board or Leaderboard.PUBLIC
    if board not in Leaderboard.values:
        raise Http404(NO_SUCH_BOARD)
    visible = (
        {}
        if phase is None
        else {
            name: board_visible(phase=phase, board=name, is_organizer=viewer.is_organizer)
            for name in Leaderboard.values
        }
    )
    return BoardAccess(phases=phases, phase=phase, board=board, visible=visible)


def leaderboard_summary(*, phase: Phase, board: str) -> LeaderboardSummary | None:
    return LeaderboardSummary.objects.filter(phase=phase, leaderboard=board).first()


class Slot(NamedTuple):
    """A row's place: its id, whose it is, its rank among participants (None: a baseline)."""

    pk: int
    participant_id: int
    rank: int | None


def _rows(slots: list[Slot]) -> list[Row]:
    """The rows of the given slots, in their order, with their ranks: one query."""
    found = {
        values["pk"]: values
        for values in LeaderboardEntry.objects.filter(pk__in=[slot.pk for slot in slots])
        .order_by()
        .values(*_ROW_FIELDS)
    }
    rows = []
    for slot in slots:
        values = found[slot.pk]
        rows.append(
            Row(
                rank=slot.rank,
                participant_id=values["participant_id"],
                participant=values["participant__username"],
                submission_id=values["submission_id"],
                description=values["submission__description"],
                is_baseline=values["is_baseline"],
                selection=values["selection"],
                score=values["score"],
                submission_count=values["submission_count"],
                last_submitted_at=values["last_submitted_at"],
                calibrated=values["result__calibrated"],
                stale=values["result__stale"],
                scores={name: values[f"result__{name}"] for name in METRICS},
                intervals=intervals_read(values["result__intervals"], METRICS),
            )
        )
    return rows


def sort_choices() -> list[str]:
    return ["", *METRICS, *(f"-{name}" for name in METRICS)]


def board_order(*, phase: Phase, board: str, sort: str = "") -> list[Slot]:
    """Every row's place on the board, in board order or best first by one metric
    (`-metric`: worst first; missing and non-finite values last either way): one query over
    the entries alone, numbered here, so that a page then fetches only its own rows."""
    name = sort.removeprefix("-")
    by_metric = name in METRICS
    fields = ["pk", "participant_id", "is_baseline", *([f"result__{name}"] if by_metric else [])]
    rows = (
        LeaderboardEntry.objects.filter(phase=phase, leaderboard=board)
        .order_by("sort_key")
        .values_list(*fields)
    )
    rank = 0
    slots, values = [], []
    for pk, participant_id, is_baseline, *value in rows:
        if not is_baseline:
            rank += 1
        slots.append(Slot(pk, participant_id, None if is_baseline else rank))
        values.append(value[0] if by_metric else None)
    if not by_metric:
        return slots
    sign = 1.0 if METRIC_DIRECTIONS[name] == Direction.LOWER else -1.0
    sign = -sign if sort.startswith("-") else sign
    # A stable sort: equal values keep the board order.
    order = sorted(
        range(len(slots)),
        key=lambda i: (0, sign * values[i]) if is_number(values[i]) else (1, 0.0),
    )
    return [slots[i] for i in order]


def leaderboard_rows(*, phase: Phase, board: str, sort: str = "") -> list[Row]:
    """Every row of the board, in order, with ranks (for exports)."""
    return _rows(board_order(phase=phase, board=board, sort=sort))


def gallery_thumbnails(
    rows: list[Row], *, per_entry: int = THUMBNAILS_PER_ENTRY
) -> dict[Any, list[int]]:
    """Gallery positions of the rows' submissions, in one query."""
    positions: dict[Any, list[int]] = {row.submission_id: [] for row in rows}
    rows = (
        GalleryImage.objects.filter(submission_id__in=positions, position__lt=per_entry)
        .order_by("submission_id", "position")
        .values_list("submission_id", "position")
    )
    for submission_id, position in rows:
        positions[submission_id].append(position)
    return positions


@dataclass
class BoardPage:
    """One page of a leaderboard as the page and the API show it."""

    phase: Phase
    board: str
    rule: ranking.RankingRule
    summary: LeaderboardSummary | None
    rows: list[Row]
    count: int
    page: int
    pages: int
    sort: str
    # The viewer's own row when it is not on this page (pinned above it on the page).
    own: Row | None = None
    # The row ranked #1, wherever it is: what "statistically tied with #1" compares with.
    leader: Row | None = None
    thumbnails: dict[Any, list[int]] = field(default_factory=dict)


def board_page(
    *,
    viewer: Viewer,
    phase: Phase,
    board: str,
    user: AnyUser,
    page: int = 1,
    page_size: int | None = None,
    sort: str = "",
    with_own: bool = True,
) -> BoardPage:
    """A page of a board the viewer may see (check `board_access` first): the summary, the
    order, the page's rows, the viewer's own and the leader's, their thumbnails; four queries."""
    page_size = page_size or PAGE_SIZE
    sort = sort if sort in sort_choices() else ""
    order = board_order(phase=phase, board=board, sort=sort)
    pages = max(math.ceil(len(order) / page_size), 1)
    page = min(max(page, 1), pages)
    slots = order[(page - 1) * page_size : page * page_size]
    own = None
    if with_own and user.is_authenticated:
        user_pk = user.pk
        mine = [slot for slot in order if slot.participant_id == user_pk and slot.rank]
        own = mine[0] if mine and mine[0] not in slots else None
    leader = next((slot for slot in order if slot.rank == 1), None)
    # One query for the page, the pinned row and the leader (each once).
    wanted = list(dict.fromkeys(slot for slot in (*slots, own, leader) if slot is not None))
    fetched = dict(zip(wanted, _rows(wanted), strict=True)) if wanted else {}
    result = BoardPage(
        phase=phase,
        board=board,
        rule=ranking.ranking_rule_parse(kind=phase.ranking_rule, spec=phase.ranking_metrics),
        summary=leaderboard_summary(phase=phase, board=board),
        rows=[fetched[slot] for slot in slots],
        count=len(order),
        page=page,
        pages=pages,
        sort=sort,
        own=fetched[own] if own else None,
        leader=fetched[leader] if leader else None,
    )
    if viewer.may_see_gallery and result.rows:
        result.thumbnails = gallery_thumbnails(result.rows)
    return result


def tied_with_leader(*, rule: ranking.RankingRule, leader: Row | None, row: Row) -> bool:
    """Whether the row's 95 % interval of the ranked score overlaps the leader's: the composite
    or the primary metric (the weighted score and the average rank have no interval). Never
    for the leader itself, nor when either interval is missing."""
    metric = rule.interval_metric
    if metric is None or leader is None or row.submission_id == leader.submission_id:
        return False
    mine, best = row.intervals.get(metric), leader.intervals.get(metric)
    return mine is not None and best is not None and ranking.intervals_overlap(mine, best)


def gallery_image_for_leaderboard(
    *, viewer: Viewer, submission_id: object, position: int
) -> GalleryImage:
    """A gallery image of a submission on a leaderboard the viewer may see; 404 otherwise."""
    if not viewer.may_see_gallery:
        raise Http404("No such image.")
    entries = LeaderboardEntry.objects.filter(
        phase__challenge=viewer.challenge, submission_id=submission_id
    ).select_related("phase")
    if not any(
        board_visible(phase=entry.phase, board=entry.leaderboard, is_organizer=viewer.is_organizer)
        for entry in entries
    ):
        raise Http404("No such image.")
    image = GalleryImage.objects.filter(submission_id=submission_id, position=position).first()
    if image is None:
        raise Http404("No such image.")
    return image


# --- Selecting submissions for the final ranking ---------------------------------------------
