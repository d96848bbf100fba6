"""The one error type of training: a stable code and a sentence that says what to change."""

from __future__ import annotations


class TrainingError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


UNKNOWN_ARCHITECTURE = "The trainer knows the architectures {known}, not “{name}”."
UNKNOWN_GAN_LOSS = "The adversarial loss must be one of {known}, not “{name}”."
BAD_SETTING = "The setting {name} must be {rule}."
NO_IMAGES = "No {what} images found in {where}: put PNG or JPEG files there."
UNREADABLE_IMAGE = "The image {name} cannot be read: {problem}"
CROP_TOO_LARGE = (
    "The crop of {crop} pixels is larger than the {what} images ({size} pixels); "
    "choose --crop {size} or less."
)
RESUME_MISMATCH = (
    "The run in {folder} was trained with other settings ({names}); resume with the same "
    "settings or choose another output folder."
)
RESUME_UNREADABLE = "The training state in {folder} cannot be read: {problem}"
NON_FINITE_LOSS = (
    "The {term} loss became {value} at step {step}; lower the learning rates or the weights."
)
