"""Files in storage: none outlives a failed database write; any can be read as a local file."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


@contextmanager
def files_removed_on_failure() -> Iterator[list[str]]:
    """Collect storage names written inside the block; delete them if the block fails.

    Database rows roll back with the transaction; files do not, so callers append the name of
    every file they save and this removes them again on any exception.
    """
    written: list[str] = []
    try:
        yield written
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise


@contextmanager
def storage_local_path(name: str) -> Iterator[Path]:
    """A stored file as a local path: in place on disk storage, else a temporary copy that is
    removed when the block ends (object storage has no local path)."""
    try:
        local = Path(default_storage.path(name))
    except NotImplementedError:
        local = None
    if local is not None:
        yield local
        return
    with tempfile.NamedTemporaryFile(suffix=Path(name).suffix) as copy:
        with default_storage.open(name, "rb") as source:
            shutil.copyfileobj(source, copy)
        copy.flush()
        yield Path(copy.name)


def storage_save_once(name: str, content: bytes) -> str:
    """Write a content-addressed file: its name is derived from what its bytes are built from
    (a cache key, a hash), so a file already under that name holds the same thing and is kept.

    Two processes building the same artifact at once both get `name` back and leave one file:
    the storage renames a write that finds the name taken (a suffix), and that copy is removed.
    """
    if default_storage.exists(name):
        return name
    saved = default_storage.save(name, ContentFile(content))
    if saved != name:
        default_storage.delete(saved)
    return name
