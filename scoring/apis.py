"""How a challenge is scored, as the API tells anyone who may see the challenge."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from competitions import selectors as competition_selectors
from scoring import selectors


class ChallengeScoringApi(APIView):
    """The challenge's scoring: its metric network, its judge and whether the judge passed its
    check (with the reason when it did not), and the composite's form."""

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="ChallengeScoring")
    class OutputSerializer(serializers.Serializer):
        class JudgeSerializer(serializers.Serializer):
            status = serializers.CharField(help_text="none, training, ready or failed.")
            scores = serializers.BooleanField(help_text="Whether the judge metrics are scored.")
            reason = serializers.CharField(
                help_text="Why the judge failed its check (empty unless failed)."
            )
            uploaded = serializers.BooleanField()
            heldout_accuracy = serializers.FloatField(allow_null=True)
            heldout_tiles = serializers.IntegerField(allow_null=True)
            heldout_by_set = serializers.DictField(child=serializers.FloatField())
            deception_threshold = serializers.FloatField(allow_null=True)
            min_accuracy = serializers.FloatField()
            min_tiles = serializers.IntegerField()

        metric_network = serializers.DictField(
            help_text="Which network computes the feature metrics and whether it is calibrated."
        )
        judge = JudgeSerializer()
        composite = serializers.CharField(help_text="The default composite, in one line.")

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        challenge = competition_selectors.challenge_get_visible(slug=slug, user=request.user)
        body: dict[str, Any] = selectors.challenge_scoring(challenge=challenge)
        return Response(self.OutputSerializer(body).data)
