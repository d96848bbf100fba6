"""The scoring app's error codes and messages, shared by the admin, the API and the tests.

Each refusal has a stable code (the API's ``error_code``) and a sentence an organizer can act
on; messages with braces are formatted with the values that apply. The engine's own refusals
keep their codes and messages (``scoring.engine.errors``).
"""

from __future__ import annotations

NO_JUDGE_IMAGES = (
    "judge_training_data",
    "The judge needs style images and public content photos to train on.",
)
# An uploaded judge that misses the gate, in the gate's own words (``engine.judge_gate_failure``).
JUDGE_FAILED_CHECK = ("judge_failed_check", "{reason}")
