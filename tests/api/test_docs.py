"""The OpenAPI document, the offline docs page, and the token command scripts rely on."""

from __future__ import annotations

import io
import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token

from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db

# The interface of DESIGN.md section 9 and the endpoints added with it.
DOCUMENTED = {
    "/api/v1/challenges/": {"get"},
    "/api/v1/challenges/{slug}/": {"get"},
    "/api/v1/challenges/{slug}/join/": {"post"},
    "/api/v1/challenges/{slug}/phases/": {"get"},
    "/api/v1/challenges/{slug}/submissions/": {"get", "post"},
    "/api/v1/challenges/{slug}/leaderboard/": {"get"},
    "/api/v1/submissions/{id}/": {"get"},
    "/api/v1/submissions/{id}/cancel/": {"post"},
    "/api/v1/submissions/{id}/final/": {"post"},
}


def test_the_schema_documents_every_endpoint_and_token_auth() -> None:
    response = token_client().get(reverse("api_schema"), {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path, methods in DOCUMENTED.items():
        assert methods <= set(schema["paths"][path]), path
    upload = schema["paths"]["/api/v1/challenges/{slug}/submissions/"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    listing = schema["paths"]["/api/v1/challenges/{slug}/submissions/"]["get"]
    assert {"page", "page_size", "status"} <= {p["name"] for p in listing["parameters"]}
    token = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (token["in"], token["name"]) == ("header", "Authorization")


def test_the_docs_page_loads_nothing_from_outside() -> None:
    response = token_client().get(reverse("api_docs"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'url: "/api/v1/schema/"' in html
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(references) >= 3  # Swagger UI's script, preset, stylesheet (and favicon)
    for reference in references:
        assert reference.startswith(settings.STATIC_URL), reference
        assert finders.find(reference.removeprefix(settings.STATIC_URL)) is not None, reference
    assert "//cdn" not in html
    assert "https://" not in html
    assert "http://" not in html


def test_drf_create_token_makes_a_key_that_authenticates(challenge, participant) -> None:
    output = io.StringIO()
    call_command("drf_create_token", participant.username, stdout=output)
    key = Token.objects.get(user=participant).key
    assert key in output.getvalue()
    client = token_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    url = reverse("api_challenge_join", args=[challenge.slug])
    response = client.post(url, {"accept_rules": True}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
