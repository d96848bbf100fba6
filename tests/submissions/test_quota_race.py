"""50 simultaneous uploads against a quota of 5 create exactly 5 submissions."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse

from competitions.models import Phase
from competitions.services import participation_join
from submissions.models import Submission

pytestmark = pytest.mark.django_db(transaction=True)
REQUESTS = 50
QUOTA = 5


def test_quota_holds_under_concurrent_requests(
    challenge, participant, tiny_checkpoint: Path
) -> None:
    Phase.objects.filter(challenge=challenge).update(
        max_per_day=QUOTA, max_total=100, max_running=100
    )
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    url = reverse("api_submission_create", args=[challenge.slug])
    payload = tiny_checkpoint.read_bytes()
    start = threading.Barrier(REQUESTS)

    def upload(index: int) -> tuple[int, str]:
        client = Client()
        client.force_login(participant)
        start.wait()
        try:
            response = client.post(
                url,
                {
                    "checkpoint": SimpleUploadedFile(f"g{index}.safetensors", payload),
                    "architecture": "transformer_net",
                },
            )
            return response.status_code, response.json().get("error_code", "")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        outcomes = list(pool.map(upload, range(REQUESTS)))

    created = [code for code, _ in outcomes if code == 201]
    refused = [error for code, error in outcomes if code == 400]
    assert len(created) == QUOTA, outcomes
    assert len(refused) == REQUESTS - QUOTA
    assert set(refused) == {"quota_daily"}
    assert Submission.objects.filter(participant=participant).count() == QUOTA
