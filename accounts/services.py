"""Writes for user accounts."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from config.errors import ApplicationError

EMAIL_TAKEN = "An account with this email address already exists."
USERNAME_TAKEN = "This username is taken."


@transaction.atomic
def user_create(*, username: str, email: str, password: str) -> AbstractBaseUser:
    """Create a participant account. Emails are unique (case-insensitively): they reset
    passwords, so two accounts must never share one."""
    user_model = get_user_model()
    if user_model.objects.filter(email__iexact=email).exists():
        raise ApplicationError("email_taken", EMAIL_TAKEN)
    if user_model.objects.filter(username__iexact=username).exists():
        raise ApplicationError("username_taken", USERNAME_TAKEN)
    user = user_model(username=username, email=email)
    user.set_password(password)
    user.full_clean()
    user.save()
    return user
