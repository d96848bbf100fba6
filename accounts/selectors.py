"""Reads for user accounts."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from rest_framework.authtoken.models import Token


def api_token_for(*, user: AbstractBaseUser) -> Token | None:
    return Token.objects.filter(user=user).first()
