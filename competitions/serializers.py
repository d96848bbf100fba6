"""A challenge's pieces that more than one app's API shows: a phase is part of a challenge's
detail (competitions) and of its phase list with the caller's quotas (submissions)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from competitions.models import Phase


@extend_schema_serializer(component_name="Phase")
class PhaseSerializer(serializers.Serializer):
    name = serializers.CharField()
    state = serializers.ChoiceField(choices=["upcoming", "open", "closed"])
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    max_per_day = serializers.IntegerField(help_text="Submissions in any rolling 24 hours.")
    max_total = serializers.IntegerField(help_text="Submissions over the whole phase.")
    max_running = serializers.IntegerField(help_text="Submissions queued or running at once.")
    time_limit_s = serializers.IntegerField()
    max_params = serializers.IntegerField()
    max_checkpoint_bytes = serializers.IntegerField()
    ranking_rule = serializers.ChoiceField(choices=Phase.RankingRule.choices)
    representation = serializers.ChoiceField(choices=Phase.Representation.choices)
    max_selected = serializers.IntegerField()
    private_revealed = serializers.BooleanField(
        help_text="Whether everyone may read the private leaderboard."
    )
