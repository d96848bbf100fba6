"""The one error type services raise, and the refusals apps declare for it.

Views, the admin, commands and (later) the API turn it into a response; tests assert its
stable ``code`` and exact ``message``. Each app lists its refusals in its ``errors`` module
as ``NAME = ("code", "message with {placeholders}")`` and raises ``refusal(errors.NAME, ...)``.
"""

from __future__ import annotations


class ApplicationError(Exception):
    """A failure the user caused or can act on, with a stable code and a readable sentence."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


Refusal = tuple[str, str]
"""A refusal's stable code and its message, whose braces ``refusal`` fills in."""


def refusal(error: Refusal, /, **values: object) -> ApplicationError:
    """The ApplicationError for one of an app's ``errors``, its message filled in."""
    code, message = error
    return ApplicationError(code, message.format(**values) if values else message)
