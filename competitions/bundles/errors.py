"""The error every refusal of a bundle raises, whichever part of the bundle it found wrong."""

from __future__ import annotations

from config.errors import ApplicationError


class BundleError(ApplicationError):
    """A bundle that cannot be imported; nothing of it has been written."""
