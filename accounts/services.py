"""Writes for user accounts: signing up, API tokens."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from rest_framework.authtoken.models import Token

from accounts import errors
from config.errors import refusal


@transaction.atomic
def user_create(*, username: str, email: str, password: str) -> AbstractBaseUser:
    """Create a participant account. Emails are unique (case-insensitively): they reset
    passwords, so two accounts must never share one."""
    user_model = get_user_model()
    if user_model.objects.filter(email__iexact=email).exists():
        raise refusal(errors.EMAIL_TAKEN)
    if user_model.objects.filter(username__iexact=username).exists():
        raise refusal(errors.USERNAME_TAKEN)
    user = user_model(username=username, email=email)
    user.set_password(password)
    user.full_clean()
    user.save()
    return user


@transaction.atomic
def api_token_create(*, user: AbstractBaseUser) -> Token:
    """The user's API token (one per user). The key is shown once, by the caller, right after
    this; refusing a second one keeps a script's key from being replaced by accident."""
    if Token.objects.filter(user=user).exists():
        raise refusal(errors.TOKEN_EXISTS)
    return Token.objects.create(user=user)


@transaction.atomic
def api_token_regenerate(*, user: AbstractBaseUser) -> Token:
    """A new key; the old one stops working at once (a leaked key is the usual reason)."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


@transaction.atomic
def api_token_revoke(*, user: AbstractBaseUser) -> None:
    deleted, _ = Token.objects.filter(user=user).delete()
    if not deleted:
        raise refusal(errors.TOKEN_MISSING)
