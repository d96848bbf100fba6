"""The one error type of models/: a stable code and a sentence a participant can act on.

Every failure to load, validate or run a generator becomes a `ModelError`. Its `code` is stable
(stored on the submission, shown by the API); its `message` is safe to show to the participant
who uploaded the checkpoint; its `detail` is for the organizer-only log (tracebacks, internals).
The message templates are module constants so tests can assert the exact text.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    UNSUPPORTED_FORMAT = "unsupported_format"
    CORRUPT_FILE = "corrupt_file"
    FILE_TOO_LARGE = "file_too_large"
    UNKNOWN_ARCHITECTURE = "unknown_architecture"
    MISSING_KEYS = "missing_keys"
    UNEXPECTED_KEYS = "unexpected_keys"
    SHAPE_MISMATCH = "shape_mismatch"
    DTYPE_MISMATCH = "dtype_mismatch"
    TOO_MANY_PARAMETERS = "too_many_parameters"
    CONFIG_MISMATCH = "config_mismatch"
    NON_FINITE_WEIGHTS = "non_finite_weights"
    UNSAFE_PROGRAM = "unsafe_program"
    BAD_INPUT_SIGNATURE = "bad_input_signature"
    BAD_OUTPUT_SHAPE = "bad_output_shape"
    NON_FINITE_OUTPUT = "non_finite_output"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    CHILD_CRASHED = "child_crashed"
    GENERATOR_FAILED = "generator_failed"
    TOO_COMPLEX = "too_complex"
    VALIDATION_TIME_LIMIT = "validation_time_limit"
    VALIDATION_MEMORY_LIMIT = "validation_memory_limit"
    VALIDATION_CRASHED = "validation_crashed"
    INVALID_GRAPH = "invalid_graph"


UNRECOGNISED_CONTENT = (
    "The file is not a checkpoint Atelier can read: it {found}; upload a .safetensors file, "
    "a PyTorch state dict (.pt/.pth/.model/.ckpt/.bin), a .pt2 exported program or an .onnx "
    "model."
)
# What an unrecognised file looks like, for UNRECOGNISED_CONTENT's {found}.
FOUND_EMPTY = "is empty"
FOUND_TEXT = "starts like a text file"
FOUND_WEB_PAGE = "is a web page (HTML), not the checkpoint itself"
FOUND_LFS_POINTER = "is a Git LFS pointer, not the file it stands for (fetch it with git lfs pull)"
FOUND_IMAGE = "is a {kind} image"
FOUND_COMPRESSED = "is a {kind} archive or compressed file (extract the checkpoint first)"
FOUND_ZIP = "is a zip archive that holds no PyTorch checkpoint (extract the checkpoint first)"
FOUND_HDF5 = "is an HDF5 file (as Keras saves weights), not a PyTorch checkpoint"
FOUND_NUMPY = "is a NumPy array file, not a checkpoint of named tensors"
FOUND_BINARY = "starts like a binary file of no format Atelier knows"
PICKLED_OBJECTS = (
    "The file contains Python objects, not only tensors; save model.state_dict() instead of "
    "the whole model."
)
NOT_A_STATE_DICT = (
    "The file does not hold a state dict (a mapping from tensor names to tensors), "
    "directly or under a 'state_dict' or 'model' key."
)
EXPORTED_PROGRAM_REQUIRED = (
    "The '{architecture}' architecture is defined by an exported program; upload a .pt2 file."
)
ONNX_REQUIRED = (
    "The '{architecture}' architecture is an ONNX graph; upload a .onnx file, or choose the "
    "architecture your weights are for."
)
ONNX_ARCHITECTURE = (
    "The file is an ONNX model, which runs as the 'onnx' architecture, not '{architecture}'; "
    "choose 'onnx'."
)
STATE_DICT_REQUIRED = (
    "The '{architecture}' architecture is loaded from weights only; upload a .safetensors, "
    ".pt or .pth file."
)
CORRUPT_FILE = "The file is damaged or truncated and cannot be read as a {format} checkpoint."
CORRUPT_ONNX = (
    "The file is damaged or truncated, or another kind of protobuf message, and cannot be read "
    "as an ONNX model."
)
FILE_TOO_LARGE = "The file has {size} bytes; the limit is {limit} bytes."
UNKNOWN_ARCHITECTURE = "Unknown architecture '{name}'; choose one of: {known}."
MISSING_KEYS = (
    "The checkpoint lacks {count} tensor(s) that the {architecture} architecture needs, "
    "first: {keys}."
)
UNEXPECTED_KEYS = (
    "The checkpoint has {count} tensor(s) that the {architecture} architecture does not use, "
    "first: {keys}."
)
SHAPE_MISMATCH = (
    "Tensor '{key}' has shape {found}; the {architecture} architecture expects {expected}."
)
DTYPE_MISMATCH = "Tensor '{key}' has dtype {found}; the weights must be floating-point tensors."
TOO_MANY_PARAMETERS = "The checkpoint holds {count} parameters; the limit is {limit}."
CONFIG_MISMATCH = "The declared {setting} is {declared} but the weights imply {inferred}."
UNKNOWN_SETTING = (
    "'{setting}' is not a setting of the {architecture} architecture; its settings are: {known}."
)
NON_FINITE_WEIGHTS = "Tensor '{key}' contains NaN or infinite values."
UNSAFE_PROGRAM = (
    "The exported program uses {what}, which the platform does not run; export a plain "
    "torch.export program of core ATen operators (no custom operators, objects or pickled data)."
)
BAD_INPUT_SIGNATURE = (
    "The exported program must take {expected} as float tensors of shape N×3×H×W with dynamic "
    "batch size, height and width; {problem}."
)
BAD_OUTPUT_SHAPE = (
    "The generator returned shape {found} for a batch of shape {expected}; it must return "
    "N×3×H×W images at the input's size."
)
UNSAFE_GRAPH = (
    "The ONNX model uses {what}, which the platform does not run; export it with "
    "torch.onnx.export using standard ONNX operators only, with the weights inside the file."
)
INVALID_GRAPH = "The ONNX model is not a valid graph the platform can run: {problem}."
BAD_ONNX_SIGNATURE = (
    "The ONNX model must take one float image input N×3×H×W (content), or two (content, then "
    "style), and return one N×3×H×W image batch; {problem}."
)
WRONG_RESOLUTION = (
    "The ONNX model was exported for {found} images, but this challenge scores {expected} "
    "images; export it with dynamic height and width, or at {expected}."
)
NON_FINITE_OUTPUT = "The generator produced NaN or infinite values."
TIME_LIMIT = "The generator did not finish within the time limit of {limit} seconds."
MEMORY_LIMIT = "The generator needed more memory than the limit of {limit} MiB."
CHILD_CRASHED = "The generator process crashed ({reason})."
GENERATOR_FAILED = "The generator raised an error while running: {error}."
TOO_COMPLEX = (
    "The checkpoint's {part} is too large to check ({found}; the limit is {limit}); save only "
    "the generator's tensors (model.state_dict()) or export a smaller program."
)
VALIDATION_TIME_LIMIT = (
    "Checking the checkpoint took longer than the limit of {limit} seconds; upload the "
    "generator's weights as .safetensors, or export a smaller program."
)
VALIDATION_MEMORY_LIMIT = (
    "Checking the checkpoint needed more memory than the limit of {limit} MiB; upload the "
    "generator's weights as .safetensors, or export a smaller program."
)
VALIDATION_CRASHED = (
    "Checking the checkpoint stopped unexpectedly ({reason}); make sure the file is a "
    "checkpoint saved by PyTorch or safetensors, and upload it again."
)
# What an allocator says when an allocation fails, e.g. under RLIMIT_AS.
# ONNX Runtime reports a failed allocation as std::bad_alloc or in its own words.
_ALLOCATION_FAILED = (
    "can't allocate memory",
    "Cannot allocate memory",
    "out of memory",
    "bad_alloc",
    "Failed to allocate memory",
)


class ModelError(Exception):
    """A named failure of a checkpoint or of the generator it holds."""

    def __init__(self, code: ErrorCode, message: str, *, detail: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detail = detail

    def __reduce__(self) -> tuple[type[ModelError], tuple[ErrorCode, str], dict[str, str]]:
        # Celery and multiprocessing pickle exceptions; keep the code and the detail across.
        return (type(self), (self.code, self.message), {"detail": self.detail})


def out_of_memory(error: BaseException) -> bool:
    """Whether an exception means an allocation failed (Python's, torch's or the C library's)."""
    return isinstance(error, MemoryError) or any(text in str(error) for text in _ALLOCATION_FAILED)


def first_keys(keys: list[str], shown: int = 3) -> str:
    """The first few tensor names of a list, quoted, for a participant-facing message."""
    return ", ".join(f"'{key}'" for key in keys[:shown])
