"""Submissions in the REST API: create by multipart upload, list your own, read with progress,
cancel; and a challenge's phases with where you stand against their quotas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from competitions.models import Challenge, Phase
from competitions.selectors import challenge_get_visible, participation_for
from competitions.serializers import PhaseSerializer
from config.api import IntervalField, paginated_response
from config.errors import refusal
from config.parsing import JSONSerializerField
from config.uploads import upload_too_large
from models.io_range import IORange
from submissions import errors, selectors
from submissions.lifecycle import submission_cancel
from submissions.models import Submission
from submissions.services import submission_create


class SubmissionStatusSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Submission.Status.choices)
    stage = serializers.CharField()
    progress = serializers.FloatField(min_value=0, max_value=1)
    error_code = serializers.CharField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)
    scores = serializers.DictField(
        child=serializers.DictField(child=serializers.FloatField(allow_null=True)),
        help_text="By leaderboard (public; private once revealed): metric name → value.",
    )
    missing = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="By leaderboard, as `scores`: why a metric is null (e.g. the challenge's "
        "judge failed its check).",
    )
    intervals = serializers.DictField(
        child=serializers.DictField(child=IntervalField()),
        help_text="By leaderboard, as `scores`: metric name → [low, high], the 95 % bootstrap "
        "interval over the leaderboard's test images, for the metrics that have one.",
    )


class ChallengeSubmissionsApi(APIView):
    """Your submissions to a challenge (GET, newest first), or a new one (POST).

    Both answer only about the caller's own submissions; organizers see everyone's in the
    admin.
    """

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser]
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @property
    def throttle_scope(self) -> str | None:
        """Uploads count against the stricter "submit" rate; reading the list does not."""
        return "submit" if self.request.method == "POST" else None

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Submission.Status.choices, required=False)

    @extend_schema_serializer(component_name="SubmissionSummary")
    class ListOutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        phase = serializers.CharField(source="phase.name")
        status = serializers.ChoiceField(choices=Submission.Status.choices)
        stage = serializers.CharField()
        progress = serializers.FloatField(min_value=0, max_value=1)
        error_code = serializers.CharField()
        architecture = serializers.CharField()
        checkpoint_name = serializers.CharField()
        description = serializers.CharField()
        is_baseline = serializers.BooleanField()
        selected_for_final = serializers.BooleanField()
        created_at = serializers.DateTimeField()
        finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_serializer(component_name="SubmissionCreateInput")
    class CreateInputSerializer(serializers.Serializer):
        checkpoint = serializers.FileField()
        architecture = serializers.CharField(max_length=50)
        io_range = serializers.ChoiceField(choices=[r.value for r in IORange], required=False)
        config = JSONSerializerField(required=False)
        description = serializers.CharField(max_length=500, required=False, allow_blank=True)
        phase = serializers.CharField(max_length=100, required=False)
        is_baseline = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        operation_id="challenges_submissions_list",
        summary="List your submissions to the challenge, newest first.",
        parameters=[FilterSerializer],
        responses=ListOutputSerializer(many=True),
    )
    def get(self, request: Request, slug: str) -> Response:
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        challenge = challenge_get_visible(slug=slug, user=request.user)
        submissions = selectors.submissions_for_user(user=request.user).filter(
            phase__challenge=challenge
        )
        if "status" in query.validated_data:
            submissions = submissions.filter(status=query.validated_data["status"])
        return paginated_response(
            queryset=submissions.order_by("-created_at", "pk"),
            serializer_class=self.ListOutputSerializer,
            request=request,
            view=self,
        )

    @extend_schema(
        operation_id="challenges_submissions_create",
        summary="Upload a checkpoint as a new submission to the challenge's open phase.",
        request={"multipart/form-data": CreateInputSerializer},
        responses={201: SubmissionStatusSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        if getattr(request._request, "upload_too_large", None):
            raise upload_too_large(request._request.upload_too_large)
        challenge = challenge_get_visible(slug=slug, user=request.user)
        data = self.CreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = data.validated_data
        config = values.get("config")
        if config is not None and not isinstance(config, dict):
            raise refusal(errors.CONFIG_NOT_OBJECT)
        submission = submission_create(
            user=request.user,
            challenge=challenge,
            checkpoint_path=Path(values["checkpoint"].temporary_file_path()),
            checkpoint_name=values["checkpoint"].name,
            architecture=values["architecture"],
            phase_name=values.get("phase"),
            config=config,
            io_range=values.get("io_range"),
            description=values.get("description", ""),
            is_baseline=values["is_baseline"],
        )
        body = selectors.submission_status(submission=submission, user=request.user)
        return Response(SubmissionStatusSerializer(body).data, status=status.HTTP_201_CREATED)


class SubmissionDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=SubmissionStatusSerializer)
    def get(self, request: Request, pk: str) -> Response:
        submission = selectors.submission_get_visible(pk=pk, user=request.user)
        body = selectors.submission_status(submission=submission, user=request.user)
        return Response(SubmissionStatusSerializer(body).data)


class SubmissionCancelApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=SubmissionStatusSerializer)
    def post(self, request: Request, pk: str) -> Response:
        submission = selectors.submission_get_visible(pk=pk, user=request.user)
        submission = submission_cancel(submission=submission, by=request.user)
        body = selectors.submission_status(submission=submission, user=request.user)
        return Response(SubmissionStatusSerializer(body).data)


@extend_schema_serializer(component_name="QuotaUsage")
class QuotaUsageSerializer(serializers.Serializer):
    daily_used = serializers.IntegerField()
    daily_limit = serializers.IntegerField()
    total_used = serializers.IntegerField()
    total_limit = serializers.IntegerField()
    running = serializers.IntegerField()
    running_limit = serializers.IntegerField()
    next_daily_slot_at = serializers.DateTimeField(
        allow_null=True, help_text="When the oldest submission leaves the 24-hour window."
    )


class PhaseListApi(APIView):
    """The challenge's phases in time order, with where you stand against their quotas."""

    permission_classes = [AllowAny]
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema_serializer(component_name="PhaseWithQuota")
    class OutputSerializer(PhaseSerializer):
        quota = serializers.SerializerMethodField(
            help_text="Your usage; null unless you are an approved participant."
        )

        @extend_schema_field(QuotaUsageSerializer(allow_null=True))
        def get_quota(self, phase: Phase) -> dict[str, Any] | None:
            usage = self.context["quota"].get(phase.pk)
            return QuotaUsageSerializer(usage).data if usage else None

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        challenge = challenge_get_visible(slug=slug, user=request.user)
        phases = list(challenge.phases.all())
        participant = _approved_participant(request.user, challenge)
        quota = {
            phase.pk: selectors.quota_usage(participant=participant, phase=phase)
            for phase in phases
            if participant is not None
        }
        return paginated_response(
            queryset=phases,
            serializer_class=self.OutputSerializer,
            request=request,
            view=self,
            context={"quota": quota},
        )


def _approved_participant(
    user: AbstractBaseUser | AnonymousUser, challenge: Challenge
) -> AbstractBaseUser | None:
    participation = participation_for(user=user, challenge=challenge)
    return participation.user if participation is not None and participation.is_approved else None
