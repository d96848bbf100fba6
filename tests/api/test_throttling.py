"""Throttles: a client over its rate gets 429 with the API's error body and Retry-After.

The test settings lift every rate out of reach; these tests put low rates back on DRF's
throttle classes (which read them once, at import) and start from an empty count.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.throttling import SimpleRateThrottle

from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_rates(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    rates = {"anon": "3/minute", "user": "5/minute", "submit": "2/minute", "join": "2/minute"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    cache.clear()
    yield
    cache.clear()


def assert_throttled(response) -> None:
    assert response.status_code == 429
    body = response.json()
    assert body["error_code"] == "throttled"
    assert body["detail"].startswith("Request was throttled.")
    assert 0 < int(response["Retry-After"]) <= 60


@pytest.mark.usefixtures("low_rates")
def test_anonymous_clients_are_throttled_by_address(challenge, outsider) -> None:
    url = reverse("api_challenge_list")
    client = token_client()
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]
    assert_throttled(client.get(url))
    # A signed-in user is counted on their own, not with the anonymous address.
    assert token_client(outsider).get(url).status_code == 200


@pytest.mark.usefixtures("low_rates")
def test_signed_in_users_are_throttled_per_user(challenge, outsider) -> None:
    url = reverse("api_challenge_detail", args=[challenge.slug])
    assert [token_client(outsider).get(url).status_code for _ in range(5)] == [200] * 5
    assert_throttled(token_client(outsider).get(url))


@pytest.mark.usefixtures("low_rates")
def test_uploads_have_a_stricter_rate_than_reading(challenge, joined, tiny_checkpoint: Path):
    url = reverse("api_submission_create", args=[challenge.slug])
    client = token_client(joined)

    def upload():
        checkpoint = SimpleUploadedFile("g.safetensors", tiny_checkpoint.read_bytes())
        return client.post(
            url, {"checkpoint": checkpoint, "architecture": "transformer_net"}, format="multipart"
        )

    # The first is accepted, the second refused by the quota (one running at a time), the
    # third by the throttle, before the upload is even looked at.
    assert upload().status_code == 201
    assert upload().json()["error_code"] == "quota_running"
    assert_throttled(upload())
    # Listing is not an upload: it still answers (within the general user rate).
    assert client.get(url).status_code == 200


@pytest.mark.usefixtures("low_rates")
def test_joining_has_its_own_rate(challenge, participant) -> None:
    url = reverse("api_challenge_join", args=[challenge.slug])
    client = token_client(participant)
    for _ in range(2):
        assert client.post(url, {"accept_rules": True}, format="json").status_code == 200
    assert_throttled(client.post(url, {"accept_rules": True}, format="json"))
