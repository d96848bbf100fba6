"""The leaderboards' error codes and messages, shared by their pages, the API, the admin and
the tests.

Each refusal has a stable code (the API's ``error_code``) and a sentence the user can act
on; messages with braces are formatted with the values that apply.
"""

from __future__ import annotations

ALREADY_DISQUALIFIED = ("already_disqualified", "This submission is already disqualified.")

# Selecting submissions for the final ranking.
SELECT_NOT_YOURS = (
    "selection_not_yours",
    "Only the participant who submitted it can select a submission.",
)
SELECT_BASELINE = ("selection_baseline", "Baselines are not ranked, so they cannot be selected.")
SELECT_NOT_USED = (
    "selection_not_used",
    "The phase “{phase}” ranks each participant's {representation}; there is nothing to select.",
)
SELECT_CLOSED = ("selection_closed", "Selections closed when the phase “{phase}” ended.")
SELECT_NOT_SCORED = (
    "selection_not_scored",
    "Only scored submissions can be selected for the final ranking.",
)
SELECT_DISQUALIFIED = (
    "selection_disqualified",
    "This submission was disqualified; it cannot be selected.",
)
SELECT_LIMIT = (
    "selection_limit",
    "You have already selected {limit} submission(s), the most this phase allows; "
    "unselect one first.",
)
