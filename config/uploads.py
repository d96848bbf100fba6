"""Uploads stream to temporary files, hashed on the way, and oversized ones stop early.

Two layers, because the CSRF middleware parses a form's body before any view runs:
``UploadSizeLimitMiddleware`` refuses a request whose declared body is larger than
ATELIER_MAX_UPLOAD_BYTES before a byte of it is read, and ``HashingUploadHandler`` writes each
file to a temporary file chunk by chunk (never the whole file in memory), computes its sha256
as it goes, and stops reading when a body without an honest Content-Length passes the limit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.defaultfilters import filesizeformat

from config.errors import UPLOAD_TOO_LARGE, ApplicationError, refusal


def upload_too_large(size: int) -> ApplicationError:
    """The refusal of an upload of ``size`` bytes, the same on the pages and in the API."""
    limit = settings.ATELIER_MAX_UPLOAD_BYTES
    return refusal(UPLOAD_TOO_LARGE, size=filesizeformat(size), limit=filesizeformat(limit))


class HashingUploadHandler(TemporaryFileUploadHandler):
    """TemporaryFileUploadHandler that leaves ``file.sha256`` on every uploaded file."""

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._digest = hashlib.sha256()
        self._received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self._received += len(raw_data)
        if self._received > settings.ATELIER_MAX_UPLOAD_BYTES:
            if self.request is not None:
                self.request.upload_too_large = self._received
            raise StopUpload(connection_reset=True)
        self._digest.update(raw_data)
        super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int) -> Any:
        uploaded = super().file_complete(file_size)
        uploaded.sha256 = self._digest.hexdigest()
        return uploaded


class UploadSizeLimitMiddleware:
    """Answer 413 at once to a request that declares a body above the upload limit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.ATELIER_MAX_UPLOAD_BYTES:
            refused = upload_too_large(declared)
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"error_code": refused.code, "detail": refused.message}, status=413
                )
            return HttpResponse(
                refused.message, status=413, content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)
