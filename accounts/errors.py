"""The accounts' error codes and messages, shared by their pages, the API and the tests.

Each refusal has a stable code (the API's ``error_code``) and a sentence the user can act on.
"""

from __future__ import annotations

EMAIL_TAKEN = ("email_taken", "An account with this email address already exists.")
USERNAME_TAKEN = ("username_taken", "This username is taken.")
TOKEN_EXISTS = (
    "token_exists",
    "You already have an API token. Regenerate it to get a new key.",
)
TOKEN_MISSING = ("token_missing", "You have no API token to revoke.")
