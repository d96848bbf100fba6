"""The competitions' error codes and messages, shared by their pages, the admin, the API and
the tests (a bundle's own refusals are in ``competitions.bundles.errors``).

Each refusal has a stable code (the API's ``error_code``) and a sentence the user can act
on; messages with braces are formatted with the values that apply.
"""

from __future__ import annotations

NOT_PUBLISHABLE = (
    "challenge_not_publishable",
    "The challenge cannot be published yet: {reasons}.",
)
ALREADY_ARCHIVED = (
    "challenge_archived",
    "The challenge is archived; it cannot be published again.",
)
RESOLUTION_LOCKED = (
    "challenge_resolution_locked",
    "The resolution cannot change once the challenge has images.",
)
DUPLICATE_IMAGE = ("image_duplicate", "{name}: this {kind} image is already in the challenge.")
JOIN_CLOSED = ("join_closed", "This challenge is not open for registration.")
JOIN_RULES = ("join_rules_not_accepted", "You need to accept the rules to join this challenge.")
JOIN_REJECTED = ("join_rejected", "Your request to join this challenge was declined.")
JOIN_BANNED = ("join_banned", "You have been banned from this challenge.")
UNKNOWN_DECISION = ("participation_bad_status", "Unknown decision {status!r}.")
NOT_ENDED = (
    "phase_not_ended",
    "The private leaderboard can be revealed once the phase “{phase}” has ended.",
)
BASELINE_ORGANIZERS_ONLY = (
    "baseline_forbidden",
    "Only the challenge's organizers can submit baselines.",
)

# An uploaded image that cannot become part of a challenge (``competitions.imaging``).
NOT_AN_IMAGE = (
    "image_not_an_image",
    "{name}: not an image Atelier can read (use JPEG, PNG, WebP, BMP, GIF or TIFF).",
)
TOO_MANY_PIXELS = (
    "image_too_large",
    "{name}: {width}×{height} pixels is more than the limit of {limit:,} pixels "
    "(a possible decompression bomb); resize it before uploading.",
)
BOMB = (
    "image_too_large",
    "{name}: the image has more pixels than the limit of {limit:,} "
    "(a possible decompression bomb); resize it before uploading.",
)
TRUNCATED = ("image_corrupt", "{name}: the file is truncated or corrupt and cannot be decoded.")
TOO_SMALL = (
    "image_too_small",
    "{name}: {width}×{height} pixels is too small; each side needs at least {min_side}.",
)
