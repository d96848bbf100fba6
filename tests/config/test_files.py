"""Content-addressed writes leave one file whoever writes first; a stored file reads locally."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage

from config.files import storage_local_path, storage_save_once


@pytest.fixture
def folder(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    return tmp_path


def stored(folder) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_a_second_write_of_the_same_name_keeps_the_first(folder) -> None:
    assert storage_save_once("cache/ab12.bin", b"built") == "cache/ab12.bin"
    assert storage_save_once("cache/ab12.bin", b"built again") == "cache/ab12.bin"
    assert stored(folder) == ["cache/ab12.bin"]
    assert (folder / "cache/ab12.bin").read_bytes() == b"built"


def test_a_writer_that_loses_the_race_removes_its_copy(folder, monkeypatch) -> None:
    # The other process saves between this one's exists() and save().
    default_storage.save("cache/ab12.bin", ContentFile(b"built"))
    real_exists = FileSystemStorage.exists
    answers = iter([False])
    monkeypatch.setattr(
        FileSystemStorage, "exists", lambda self, name: next(answers, real_exists(self, name))
    )
    assert storage_save_once("cache/ab12.bin", b"built") == "cache/ab12.bin"
    assert stored(folder) == ["cache/ab12.bin"]


def test_a_stored_file_reads_as_a_local_path(folder) -> None:
    storage_save_once("cache/ab12.bin", b"built")
    with storage_local_path("cache/ab12.bin") as path:
        assert path.read_bytes() == b"built"
