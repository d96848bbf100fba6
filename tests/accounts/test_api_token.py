"""The account's API token page: the key is shown once, then only that a token exists."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from accounts import errors
from accounts.views import TOKEN_REVOKED
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(participant) -> Client:
    client = Client()
    client.force_login(participant)
    return client


def page(client: Client, data: dict | None = None):
    url = reverse("api_token")
    return client.post(url, data, follow=True) if data else client.get(url)


def authenticates(key: str) -> bool:
    client = token_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(reverse("api_challenge_list")).status_code == 200


def test_the_key_is_shown_once_in_the_answer_to_create(web, participant) -> None:
    assert "You have no API token." in page(web).content.decode()
    created = web.post(reverse("api_token"), {"action": "create"})
    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    key = Token.objects.get(user=participant).key
    assert key in created.content.decode()
    assert authenticates(key)
    later = page(web).content.decode()
    assert key not in later
    assert "You have a token, created on" in later


def test_a_second_create_is_refused_and_keeps_the_key(web, participant) -> None:
    web.post(reverse("api_token"), {"action": "create"})
    key = Token.objects.get(user=participant).key
    again = page(web, {"action": "create"}).content.decode()
    assert errors.TOKEN_EXISTS[1] in again
    assert key not in again
    assert Token.objects.get(user=participant).key == key


def test_regenerate_replaces_the_key(web, participant) -> None:
    web.post(reverse("api_token"), {"action": "create"})
    old = Token.objects.get(user=participant).key
    answer = web.post(reverse("api_token"), {"action": "regenerate"}).content.decode()
    new = Token.objects.get(user=participant).key
    assert new != old
    assert new in answer
    assert old not in answer
    assert authenticates(new)
    assert not authenticates(old)


def test_revoke_deletes_the_token(web, participant) -> None:
    web.post(reverse("api_token"), {"action": "create"})
    key = Token.objects.get(user=participant).key
    answer = page(web, {"action": "revoke"}).content.decode()
    assert TOKEN_REVOKED in answer
    assert "You have no API token." in answer
    assert not Token.objects.filter(user=participant).exists()
    assert not authenticates(key)


def test_unknown_actions_and_anonymous_visitors_are_turned_away(web) -> None:
    assert web.post(reverse("api_token"), {"action": "steal"}).status_code == 400
    anonymous = Client().post(reverse("api_token"), {"action": "create"})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("login"))
    assert not Token.objects.exists()


def test_the_user_menu_links_to_the_token_page(web) -> None:
    assert f'href="{reverse("api_token")}"' in web.get(reverse("home")).content.decode()


def test_the_page_needs_the_csrf_token(participant) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(participant)
    assert client.post(reverse("api_token"), {"action": "create"}).status_code == 403
    assert not Token.objects.exists()
