"""Sending a form's poster back where they came from, when that is this site."""

from __future__ import annotations

from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def redirect_back(request: HttpRequest, fallback: Model | str) -> HttpResponse:
    """To the form's `next` field if it names a page of this site, else to `fallback`.

    Checked like Django's login view checks `next`, so a crafted form cannot send a
    participant off-site (an open redirect).
    """
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect(fallback)
