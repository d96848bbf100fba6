from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.forms import SignupForm
from accounts.selectors import api_token_for
from accounts.services import (
    api_token_create,
    api_token_regenerate,
    api_token_revoke,
    user_create,
)
from config.errors import ApplicationError

TOKEN_REVOKED = "Your API token is revoked: requests that use it are refused from now on."
UNKNOWN_TOKEN_ACTION = "Unknown action: choose create, regenerate or revoke."


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST if request.method == "POST" else None)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.method == "POST" and form.is_valid():
        try:
            user = user_create(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to Atelier, {user.get_username()}!")
            safe = url_has_allowed_host_and_scheme(
                next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            )
            return redirect(next_url if safe and next_url else "home")
    return render(request, "registration/signup.html", {"form": form, "next": next_url})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_token(request: HttpRequest) -> HttpResponse:
    """The account's API token: create, regenerate, revoke.

    The key is shown exactly once, in the answer to the POST that made it (no redirect, and
    never cached); afterwards the page only says that a token exists and since when.
    """
    new_key = None
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "revoke":
                api_token_revoke(user=request.user)
                messages.success(request, TOKEN_REVOKED)
                return redirect("api_token")
            if action == "create":
                new_key = api_token_create(user=request.user).key
            elif action == "regenerate":
                new_key = api_token_regenerate(user=request.user).key
            else:
                return HttpResponseBadRequest(UNKNOWN_TOKEN_ACTION)
        except ApplicationError as error:
            messages.error(request, error.message)
            return redirect("api_token")
    context = {"token": api_token_for(user=request.user), "new_key": new_key}
    return render(request, "accounts/api_token.html", context)
