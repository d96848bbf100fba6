"""The error every refusal of a bundle raises, whichever part of the bundle it found wrong,
and the codes and messages of those refusals, shared by the import, the admin and the tests.

Each refusal has a stable code and a sentence the organizer can act on; messages with braces
are formatted with the values that apply when ``BundleError.of`` raises them.
"""

from __future__ import annotations

from config.errors import ApplicationError


class BundleError(ApplicationError):
    """A bundle that cannot be imported; nothing of it has been written."""


# The zip or folder (``archive``).
NOT_A_BUNDLE = ("bundle_not_a_bundle", "{name} is neither a zip archive nor a folder.")
CORRUPT_ZIP = ("bundle_corrupt", "The zip archive is damaged and cannot be read ({detail}).")
SIZE_MISMATCH = ("bundle_corrupt", "{path}: the entry is larger than its zip header says.")
ENCRYPTED = ("bundle_encrypted", "{path}: encrypted zip entries are not supported.")
UNSUPPORTED_ZIP = (
    "bundle_unsupported_zip",
    "{path}: the zip entry is stored in a way that cannot be read ({detail}).",
)
ABSOLUTE_PATH = ("bundle_absolute_path", "{path}: absolute paths are not allowed in a bundle.")
TRAVERSAL = (
    "bundle_path_traversal",
    "{path}: paths that climb out of the bundle ('..') are not allowed.",
)
SYMLINK = ("bundle_symlink", "{path}: symbolic links are not allowed in a bundle.")
SPECIAL_FILE = (
    "bundle_special_file",
    "{path}: only plain files and folders are allowed in a bundle.",
)
NESTED_ARCHIVE = (
    "bundle_nested_archive",
    "{path}: archives inside the bundle are not allowed; unpack them first.",
)
TOO_MANY_FILES = ("bundle_too_many_files", "The bundle holds more than {limit:,} files.")
TOO_MANY_BYTES = (
    "bundle_too_large",
    "The bundle holds more than {limit:,} bytes of files once unpacked.",
)
DUPLICATE_PATH = ("bundle_duplicate_path", "{path}: the zip holds this path twice.")
MISSING_MANIFEST = (
    "bundle_missing_manifest",
    "The bundle has no challenge.toml at its top level.",
)
UNREADABLE = ("bundle_unreadable", "{path}: the file cannot be read ({detail}).")

# challenge.toml (``manifest``).
BAD_TOML = ("bundle_invalid_toml", "challenge.toml is not valid TOML: {detail}.")
TOML_TOO_DEEP = (
    "bundle_invalid_toml",
    "challenge.toml nests arrays or tables too deeply to be read.",
)
MANIFEST_TOO_LARGE = (
    "bundle_invalid_manifest",
    "challenge.toml is {size:,} bytes; the limit is {limit:,}.",
)
NOT_UTF8 = ("bundle_invalid_manifest", "{path}: text files must be UTF-8.")
UNKNOWN_KEYS = ("bundle_invalid_manifest", "challenge.toml: unknown key(s) {keys}{where}.")
MISSING_KEY = ("bundle_invalid_manifest", "challenge.toml: `{key}` is required{where}.")
BAD_VALUE = ("bundle_invalid_manifest", "challenge.toml: `{key}`{where} {problem} (got {value}).")
# What the models refused of the values the manifest gave, each problem an ``INVALID_FIELD``
# or ``INVALID_ENTRY`` of ``manifest``, in one message.
MODEL_REFUSED = ("bundle_invalid_manifest", "{problems}")
TEXT_TOO_LONG = (
    "bundle_text_too_long",
    "challenge.toml: `{key}` is {length:,} characters long; the limit is {limit:,}. "
    "Shorten it, or move what is not needed to take part elsewhere.",
)
TEXT_FILE_TOO_LARGE = (
    "bundle_text_too_long",
    "challenge.toml: `{key}` names {path}, a file of {size:,} bytes: far more than the "
    "{limit:,} characters the text may have.",
)
MISSING_TEXT_FILE = (
    "bundle_missing_file",
    "challenge.toml: `{key}` names the file {value!r}, which is not in the bundle.",
)

# The image folders (``images``).
STRAY_FILE = (
    "bundle_stray_file",
    "{path}: images go in content/public/, content/hidden/, style/public/, style/hidden/ or "
    "negatives/.",
)
NOT_IMAGE_NAME = (
    "bundle_not_an_image",
    "{path}: only image files (JPEG, PNG, WebP, BMP, GIF, TIFF) belong here.",
)
TOO_FEW_IMAGES = (
    "bundle_too_few_images",
    "{folder}/ needs at least {minimum} image(s); the bundle has {count}.",
)
DUPLICATE_IMAGE = (
    "bundle_duplicate_image",
    "{path}: the same image as {other} (after normalisation).",
)

# The challenge the bundle would create (``prepare``, and the import's own write).
SLUG_TAKEN = ("bundle_slug_taken", "A challenge with the slug {slug!r} already exists.")
