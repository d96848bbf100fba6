"""The REST API's shared pieces: one exception handler for the one application error type,
the page-number pagination every list endpoint uses, and the field of a score's interval."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

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
    """Every API error as ``{"error_code": ..., "detail": ...}`` with a fitting status.

    DRF's own handler runs first, so its headers stay: ``WWW-Authenticate`` on 401 and
    ``Retry-After`` on a throttled 429.
    """
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


class IntervalField(serializers.ListField):
    """[low, high]: a 95 % bootstrap interval of a score, two numbers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.FloatField(), min_length=2, max_length=2, **kwargs)


class Pagination(PageNumberPagination):
    """``?page=N&page_size=M`` on every list (``PAGE_SIZE`` by default, at most 100); a page
    past the end answers 404 not_found."""

    page_size_query_param = "page_size"
    max_page_size = 100


def paginated_response(
    *,
    queryset: QuerySet | list[Any],
    serializer_class: type[serializers.BaseSerializer],
    request: Request,
    view: APIView,
    context: dict[str, Any] | None = None,
) -> Response:
    """One page of ``queryset`` serialized, wrapped in count / next / previous / results.

    The view names its paginator in ``pagination_class`` so that the schema shows the page.
    """
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    serializer = serializer_class(page, many=True, context=context or {})
    return paginator.get_paginated_response(serializer.data)
