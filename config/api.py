"""The REST API's shared pieces: one exception handler for the one application error type."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import ApplicationError

# How long-standing DRF errors are named for clients: stable codes, like the services'.
_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "parse_error",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
}


def api_exception_handler(error: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error as ``{"error_code": ..., "detail": ...}`` with a fitting status."""
    if isinstance(error, ApplicationError):
        return Response(
            {"error_code": error.code, "detail": error.message},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(error, Http404):
        error = exceptions.NotFound()
    response = exception_handler(error, context)
    if response is None:
        return None
    code = next((name for kind, name in _DRF_CODES.items() if isinstance(error, kind)), "error")
    if isinstance(error, exceptions.ValidationError):
        response.data = {"error_code": code, "detail": "Invalid input.", "fields": response.data}
    else:
        response.data = {"error_code": code, "detail": str(getattr(error, "detail", error))}
    return response
