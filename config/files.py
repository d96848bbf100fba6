"""Files in storage that must not outlive a failed database write."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
