"""Challenges in the REST API: list, detail, joining.

Who sees what is the website's rule (``competitions.selectors``): published and archived
challenges for everyone, drafts only for their organizers; anyone else gets 404, never a hint
that the draft exists.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from competitions import selectors
from competitions.models import Challenge, Participation
from competitions.serializers import PhaseSerializer
from competitions.services import participation_join
from config.api import paginated_response


@extend_schema_serializer(component_name="Participation")
class ParticipationSerializer(serializers.Serializer):
    challenge = serializers.SlugField(source="challenge.slug")
    status = serializers.ChoiceField(choices=Participation.Status.choices)
    rules_accepted_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="ChallengeSummary")
class ChallengeSummarySerializer(serializers.Serializer):
    slug = serializers.SlugField()
    title = serializers.CharField()
    summary = serializers.CharField()
    task_kind = serializers.ChoiceField(choices=Challenge.TaskKind.choices)
    resolution = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Challenge.Status.choices)
    registration = serializers.ChoiceField(choices=Challenge.Registration.choices)
    published_at = serializers.DateTimeField(allow_null=True)
    url = serializers.SerializerMethodField(help_text="The challenge's page on the website.")

    def get_url(self, challenge: Challenge) -> str:
        return challenge.get_absolute_url()


class ChallengeListApi(APIView):
    """The challenges you may open, newest first: published and archived ones, and drafts
    you organize."""

    permission_classes = [AllowAny]
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Challenge.Status.choices, required=False)

    @extend_schema(parameters=[FilterSerializer], responses=ChallengeSummarySerializer(many=True))
    def get(self, request: Request) -> Response:
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        challenges = selectors.challenge_list_visible(
            user=request.user, status=query.validated_data.get("status")
        )
        return paginated_response(
            queryset=challenges,
            serializer_class=ChallengeSummarySerializer,
            request=request,
            view=self,
        )


class ChallengeDetailApi(APIView):
    """One challenge: description and rules (markdown), phases, image counts, and your part
    in it."""

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="ChallengeDetail")
    class OutputSerializer(ChallengeSummarySerializer):
        """The challenge's own fields; what depends on the caller comes in the context."""

        description = serializers.CharField(help_text="Markdown.")
        rules = serializers.CharField(help_text="Markdown; joining means accepting them.")
        public_fraction = serializers.FloatField()
        phases = PhaseSerializer(many=True, source="phases.all")
        images = serializers.SerializerMethodField(
            help_text="Image counts per <kind>_<split> and leaderboard_<public|private>."
        )
        participation = serializers.SerializerMethodField(
            help_text="Your participation; null when you have not joined."
        )
        is_organizer = serializers.SerializerMethodField()

        def get_images(self, challenge: Challenge) -> dict[str, int]:
            return self.context["images"]

        @extend_schema_field(ParticipationSerializer(allow_null=True))
        def get_participation(self, challenge: Challenge) -> dict[str, Any] | None:
            participation = self.context["participation"]
            return ParticipationSerializer(participation).data if participation else None

        def get_is_organizer(self, challenge: Challenge) -> bool:
            return self.context["is_organizer"]

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        challenge = selectors.challenge_get_visible(slug=slug, user=request.user)
        caller = {
            "images": selectors.image_counts(challenge),
            "participation": selectors.participation_for(user=request.user, challenge=challenge),
            "is_organizer": selectors.user_organizes(request.user, challenge),
        }
        return Response(self.OutputSerializer(challenge, context=caller).data)


class ChallengeJoinApi(APIView):
    """Join the challenge by accepting its rules: approved at once where registration is
    open, pending an organizer's decision otherwise. Joining again changes nothing."""

    permission_classes = [IsAuthenticated]
    # Stricter than the general rate: each join is a write an organizer may have to review.
    throttle_scope = "join"

    @extend_schema_serializer(component_name="JoinInput")
    class InputSerializer(serializers.Serializer):
        accept_rules = serializers.BooleanField(help_text="You accept the challenge's rules.")

    @extend_schema(request=InputSerializer, responses=ParticipationSerializer)
    def post(self, request: Request, slug: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        challenge = selectors.challenge_get_visible(slug=slug, user=request.user)
        participation = participation_join(
            user=request.user,
            challenge=challenge,
            accept_rules=data.validated_data["accept_rules"],
        )
        return Response(ParticipationSerializer(participation).data)
