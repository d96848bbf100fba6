"""The one error type services raise.

Views, the admin, commands and (later) the API turn it into a response; tests assert its
stable ``code`` and exact ``message``.
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
