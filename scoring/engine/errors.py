"""The one error type of scoring/engine/: a stable code and a sentence someone can act on.

Most of these reach an organizer (a weights file that does not load, an uploaded judge that is
not a PatchGAN, a challenge whose style set cannot give K prototypes); the scoring errors reach
the participant through the submission's error code. The templates are module constants so
tests can assert the exact text.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    METRIC_WEIGHTS_UNREADABLE = "metric_weights_unreadable"
    METRIC_WEIGHTS_MISMATCH = "metric_weights_mismatch"
    INVALID_JUDGE = "invalid_judge"
    JUDGE_TRAINING_DATA = "judge_training_data"
    BAD_IMAGES = "bad_images"
    TOO_MANY_PROTOTYPES = "too_many_prototypes"
    DEGENERATE_REFERENCE = "degenerate_reference"
    BAD_REFERENCES_FILE = "bad_references_file"
    STALE_REFERENCES = "stale_references"
    BAD_OUTPUT_INDICES = "bad_output_indices"
    INCOMPLETE_OUTPUTS = "incomplete_outputs"
    FRECHET_IMAGINARY = "frechet_imaginary_component"


METRIC_WEIGHTS_UNREADABLE = "The metric network's weights file {name} cannot be used: {problem}"
METRIC_WEIGHTS_MISMATCH = (
    "The weights file {name} is not a VGG19 `features` state dict in torchvision's layout: "
    "{problem}"
)
JUDGE_NOT_SAFETENSORS = "A judge must be a .safetensors file of a PatchGAN discriminator."
JUDGE_TOO_LARGE = "The judge file has {size} bytes; the limit is {limit} bytes."
JUDGE_UNREADABLE = "The judge file is damaged or is not a safetensors file."
JUDGE_NOT_PATCHGAN = "The judge is not a PatchGAN discriminator in pix2pix's layout: {problem}"
JUDGE_MISSING_KEYS = "it lacks {count} tensor(s), first: {keys}"
JUDGE_UNEXPECTED_KEYS = "it has {count} tensor(s) a PatchGAN does not use, first: {keys}"
JUDGE_SHAPE_MISMATCH = "tensor '{key}' has shape {found}, expected {expected}"
JUDGE_BAD_VALUES = "tensor '{key}' is not floating-point or holds NaN or infinite values"
JUDGE_TRAINING_CROP = (
    "Judge crops of {crop} pixels do not fit the {resolution}-pixel images; with a single image "
    "in a set the images need at least twice the crop size, since a quarter of it is held out."
)
JUDGE_TRAINING_SMALL_CROP = (
    "Judge crops of {crop} pixels are too small for {layers} strided layers; they need at least "
    "{smallest} pixels."
)
JUDGE_GATE_TILES = (
    "The judge was checked on {tiles} held-out tiles; at least {minimum} are needed to trust it. "
    "Add style images or public content photos."
)
JUDGE_GATE_ACCURACY = (
    "The judge tells this style from other images on held-out tiles with balanced accuracy "
    "{accuracy:.2f} (style {style:.2f}, not style {not_style:.2f}); at least {minimum:.2f} is "
    "needed. Add style images, or train longer or wider."
)
JUDGE_TRAINING_LOSS = "Unknown judge loss '{loss}'; choose one of: {known}."
BAD_IMAGES = "{what}: expected float RGB images in [0, 1] of shape N×3×R×R, {problem}."
TOO_MANY_PROTOTYPES = (
    "K = {k} style prototypes need at least {k} distinct style images; the challenge has {found}."
)
DEGENERATE_CONTENT = (
    "Content image {index} is flat (it has no layout), so its content distance is undefined."
)
DEGENERATE_STYLE = "A style target has no style statistics: its features are all zero."
BAD_REFERENCES_FILE = "The reference cache file {name} cannot be read: {problem}"
STALE_REFERENCES = (
    "The reference cache was built for {built}, not for {expected}; rebuild it before scoring."
)
BAD_OUTPUT_INDICES = "Output indices must be distinct image indices below {count}; {problem}."
INCOMPLETE_OUTPUTS = "Only {scored} of the {count} test images were scored."
FRECHET_IMAGINARY = (
    "The matrix square root in the Fréchet distance has an imaginary component of {value:.3g}; "
    "the judge features are numerically degenerate."
)


class ScoringError(Exception):
    """A named failure of the scoring engine."""

    def __init__(self, code: ErrorCode, message: str, *, detail: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detail = detail

    def __reduce__(self) -> tuple[type[ScoringError], tuple[ErrorCode, str], dict[str, str]]:
        # Celery pickles exceptions between processes; keep the code and the detail across.
        return (type(self), (self.code, self.message), {"detail": self.detail})
