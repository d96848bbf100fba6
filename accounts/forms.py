from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    email = forms.EmailField(
        required=True, help_text="Used only to reset your password and for challenge news."
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")
