"""Sign up, log in and out, change and reset passwords with Django's own auth views."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts import errors
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-much-longer-secret-42"


def test_sign_up_logs_the_new_user_in(client: Client) -> None:
    response = client.post(
        reverse("signup"),
        {
            "username": "ada",
            "email": "ada@example.org",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
        follow=True,
    )
    assert "Welcome to Atelier, ada!" in response.content.decode()
    assert response.context["user"].username == "ada"


def test_sign_up_refuses_a_used_email(client: Client) -> None:
    UserFactory(username="first", email="same@example.org")
    response = client.post(
        reverse("signup"),
        {
            "username": "second",
            "email": "SAME@example.org",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert errors.EMAIL_TAKEN[1] in response.content.decode()
    assert not get_user_model().objects.filter(username="second").exists()


def test_sign_up_follows_only_local_next_urls(client: Client) -> None:
    response = client.post(
        reverse("signup") + "?next=https://evil.example/",
        {
            "username": "bo",
            "email": "bo@example.org",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "next": "https://evil.example/",
        },
    )
    assert response["Location"] == reverse("home")


def test_log_in_and_out(client: Client) -> None:
    UserFactory(username="cy")
    page = client.post(reverse("login"), {"username": "cy", "password": PASSWORD}, follow=True)
    assert page.context["user"].is_authenticated
    assert "Log out" in page.content.decode()
    out = client.post(reverse("logout"), follow=True)
    assert not out.context["user"].is_authenticated


def test_password_change(client: Client) -> None:
    user = UserFactory(username="di")
    client.force_login(user)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Password changed" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_password_reset_by_email(client: Client) -> None:
    user = UserFactory(username="ed", email="ed@example.org")
    client.post(reverse("password_reset"), {"email": "ed@example.org"})
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Reset your Atelier password"
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    set_url = form.redirect_chain[-1][0]
    done = client.post(
        set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True
    )
    assert "Password set" in done.content.decode()
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
