"""Leaderboards in the REST API: a page of a board, and selecting for the final ranking."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import IntervalField
from leaderboard import selectors
from leaderboard.models import LeaderboardEntry
from leaderboard.services import submission_final_select
from scoring.engine.metrics import is_number
from scoring.models import Leaderboard
from submissions.selectors import submission_get_visible

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class LeaderboardApi(APIView):
    """A page of a phase's leaderboard, best first.

    The public leaderboard is open to anyone who can see the challenge (no token needed for
    published challenges); the private one to its organizers, and to everyone once the phase
    has ended and the organizers revealed it. Without `phase`, the open phase (else the one
    that started last).
    """

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        phase = serializers.CharField(max_length=100, required=False)
        board = serializers.ChoiceField(choices=Leaderboard.values, default=Leaderboard.PUBLIC)
        page = serializers.IntegerField(min_value=1, default=1)
        page_size = serializers.IntegerField(
            min_value=1, max_value=MAX_PAGE_SIZE, default=DEFAULT_PAGE_SIZE
        )

    @extend_schema_serializer(component_name="LeaderboardPage")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="LeaderboardEntry")
        class EntrySerializer(serializers.Serializer):
            rank = serializers.IntegerField(
                allow_null=True, help_text="Among participants; null for baselines."
            )
            participant = serializers.CharField()
            submission = serializers.UUIDField()
            is_baseline = serializers.BooleanField()
            selection = serializers.ChoiceField(choices=LeaderboardEntry.Selection.values)
            score = serializers.FloatField(
                allow_null=True, help_text="The ranking rule's number (lower is better)."
            )
            scores = serializers.DictField(
                child=serializers.FloatField(allow_null=True),
                help_text="Metric name → value; null when missing or not finite.",
            )
            intervals = serializers.DictField(
                child=IntervalField(),
                help_text="Metric name → [low, high], the 95 % bootstrap interval of the value "
                "over the leaderboard's test images; only metrics that have one (none for "
                "results scored before intervals existed).",
            )
            calibrated = serializers.BooleanField()
            stale = serializers.BooleanField()
            submissions = serializers.IntegerField()
            last_submitted_at = serializers.DateTimeField()

        challenge = serializers.CharField()
        phase = serializers.CharField()
        board = serializers.ChoiceField(choices=Leaderboard.values)
        rule = serializers.CharField(help_text="The ranking rule in one sentence.")
        count = serializers.IntegerField(help_text="Rows on this leaderboard, baselines too.")
        page = serializers.IntegerField()
        pages = serializers.IntegerField()
        entries = EntrySerializer(many=True)

    @extend_schema(parameters=[InputSerializer], responses=OutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params: dict[str, Any] = query.validated_data
        viewer = selectors.viewer_get(slug=slug, user=request.user)
        access = selectors.board_access(
            viewer=viewer, phase_name=params.get("phase"), board=params["board"]
        )
        phase, board = access.phase, access.board
        if phase is None:
            raise exceptions.NotFound(access.refusal)
        if access.refusal is not None:
            raise exceptions.PermissionDenied(access.refusal)
        page = selectors.board_page(
            viewer=viewer,
            phase=phase,
            board=board,
            user=request.user,
            page=params["page"],
            page_size=params["page_size"],
            with_own=False,
        )
        body = {
            "challenge": viewer.challenge.slug,
            "phase": phase.name,
            "board": board,
            "rule": page.rule.describe(),
            "count": page.count,
            "page": page.page,
            "pages": page.pages,
            "entries": [_entry(row) for row in page.rows],
        }
        return Response(self.OutputSerializer(body).data)


def _entry(row: selectors.Row) -> dict[str, Any]:
    return {
        "rank": row.rank,
        "participant": row.participant,
        "submission": row.submission_id,
        "is_baseline": row.is_baseline,
        "selection": row.selection,
        "score": row.score if is_number(row.score) else None,
        "scores": {name: value if is_number(value) else None for name, value in row.scores.items()},
        "intervals": row.intervals,
        "calibrated": row.calibrated,
        "stale": row.stale,
        "submissions": row.submission_count,
        "last_submitted_at": row.last_submitted_at,
    }


class SubmissionFinalSelectApi(APIView):
    """Select one of your scored submissions for the final ranking, or unselect it."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="FinalSelectionInput")
    class InputSerializer(serializers.Serializer):
        selected = serializers.BooleanField()

    @extend_schema_serializer(component_name="FinalSelection")
    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        selected_for_final = serializers.BooleanField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request, pk: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        submission = submission_get_visible(pk=pk, user=request.user)
        submission = submission_final_select(
            submission=submission, user=request.user, selected=data.validated_data["selected"]
        )
        return Response(self.OutputSerializer(submission).data)
