"""The submissions' error codes and messages, shared by their pages, the API, the admin, the
commands and the tests.

Each refusal has a stable code (the API's ``error_code``) and a sentence the user can act
on; messages with braces are formatted with the values that apply. A checkpoint the models
refuse keeps the models' own code and message (``models.errors``); the refusal of a baseline
to anyone but an organizer is the competitions' (``competitions.errors``).
"""

from __future__ import annotations

from models import errors as model_errors

# Where a submission may go (``services``).
NOT_PUBLISHED = ("challenge_closed", "This challenge is not open for submissions.")
NO_OPEN_PHASE = ("phase_closed", "No phase of this challenge is open for submissions right now.")
PHASE_NOT_OPEN = ("phase_closed", "The phase “{phase}” is not open for submissions.")
UNKNOWN_PHASE = ("unknown_phase", "This challenge has no phase called “{phase}”.")
NOT_PARTICIPANT = (
    "not_a_participant",
    "Join the challenge and accept its rules before submitting.",
)
PENDING = ("participation_pending", "Your participation is waiting for an organizer's approval.")
BANNED = ("participation_refused", "You cannot submit to this challenge.")
QUOTA_RUNNING = (
    "quota_running",
    "You already have {running} submission(s) queued or running, the most this phase allows "
    "at once; wait for one to finish or cancel it.",
)
QUOTA_DAILY = (
    "quota_daily",
    "You have used all {limit} submissions of the last 24 hours; the next one is possible "
    "from {when:%Y-%m-%d %H:%M} UTC.",
)
QUOTA_TOTAL = ("quota_total", "You have used all {limit} submissions this phase allows.")

# What the checkpoint must fit (``services``).
WRONG_INPUTS_SINGLE = (
    "wrong_inputs",
    "This challenge gives generators a content image only, but this checkpoint takes a "
    "content and a style image.",
)
WRONG_INPUTS_ARBITRARY = (
    "wrong_inputs",
    "This challenge gives generators a content and a style image, but this checkpoint takes "
    "a content image only.",
)
WRONG_RESOLUTION = (
    model_errors.ErrorCode.BAD_INPUT_SIGNATURE.value,
    model_errors.WRONG_RESOLUTION,
)
CONFIG_NOT_OBJECT = ("config_not_object", "config must be a JSON object.")

# A submission's lifecycle (``lifecycle``).
NOT_CANCELLABLE = (
    "not_cancellable",
    "Only queued or running submissions can be cancelled; this one is {status}.",
)
RESCORE_NOT_FINISHED = (
    "not_rescorable",
    "Only finished submissions can be rescored; this one is {status}.",
)

# Baselines (``baseline``).
NO_TRAINING_IMAGES = (
    "baseline_training_data",
    "A baseline needs public content photos and public style images to train on.",
)
UNKNOWN_USER = ("unknown_user", "There is no user called “{username}”.")
NO_ORGANIZER = ("no_organizer", "The challenge has no organizer to submit as.")
