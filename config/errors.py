"""The one error type services raise, and the refusals apps declare for it.

Views, the admin, commands and (later) the API turn it into a response; tests assert its
stable ``code`` and exact ``message``. Each app lists its refusals in its ``errors`` module
as ``NAME = ("code", "message with {placeholders}")`` and raises ``refusal(errors.NAME, ...)``.
"""

from __future__ import annotations

from typing import Self

Refusal = tuple[str, str]
"""A refusal's stable code and its message, whose braces are filled when it is raised."""


class ApplicationError(Exception):
    """A failure the user caused or can act on, with a stable code and a readable sentence."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    @classmethod
    def of(cls, error: Refusal, /, **values: object) -> Self:
        """This error for one of an app's ``errors``, its message filled in: a subclass
        (a bundle's, an image's) keeps its own type for the callers that catch it."""
        code, message = error
        return cls(code, message.format(**values) if values else message)


def refusal(error: Refusal, /, **values: object) -> ApplicationError:
    """The ApplicationError for one of an app's ``errors``, its message filled in."""
    return ApplicationError.of(error, **values)


# The shared plumbing's own refusals.
UPLOAD_TOO_LARGE = ("upload_too_large", "The upload is {size}; the largest accepted is {limit}.")
