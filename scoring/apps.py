from __future__ import annotations

from celery.signals import worker_ready, worker_shutdown
from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        # The presence thread writes rows: its module uses models, loaded once apps are ready.
        from scoring import presence

        worker_ready.connect(presence.on_worker_ready, dispatch_uid="scoring-presence")
        worker_shutdown.connect(presence.on_worker_shutdown, dispatch_uid="scoring-presence")
