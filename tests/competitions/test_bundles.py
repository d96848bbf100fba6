"""Challenge bundles: a good bundle imports whole; every bad one is refused whole."""

from __future__ import annotations

import datetime as dt
import io
import os
import struct
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from competitions.bundles import BundleError, BundleLimits, errors
from competitions.bundles.manifest import QUOTED_VALUE_MAX_CHARS
from competitions.models import Challenge, ChallengeImage, Phase
from competitions.services import challenge_bundle_import
from config.markdown import PARAGRAPH_MAX_CHARS, PARAGRAPH_TOO_LONG
from tests.competitions.bundle_helpers import (
    add_raw_entry,
    add_symlink_entry,
    good_bundle_files,
    write_folder,
    write_zip,
)
from tests.factories import image_bytes, make_challenge

pytestmark = pytest.mark.django_db

LIMITS = BundleLimits(max_files=100, max_bytes=10 * 1024 * 1024, max_image_pixels=10**7)


def media_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def assert_nothing_imported() -> None:
    assert Challenge.objects.count() == 0
    assert Phase.objects.count() == 0
    assert ChallengeImage.objects.count() == 0
    assert media_files() == []


def refused(source: Path, limits: BundleLimits = LIMITS) -> BundleError:
    with pytest.raises(BundleError) as caught:
        challenge_bundle_import(source=source, limits=limits)
    return caught.value


# --- The good bundle ------------------------------------------------------------------------


def test_folder_bundle_imports_everything(tmp_path: Path, organizer) -> None:
    source = write_folder(tmp_path / "bundle", good_bundle_files())
    progress: list[tuple[int, int]] = []

    challenge = challenge_bundle_import(
        source=source,
        organizer=organizer,
        limits=LIMITS,
        progress=lambda done, total: progress.append((done, total)),
    )

    assert challenge.slug == "from-bundle"
    assert challenge.title == "Bundle Challenge"
    assert challenge.status == Challenge.Status.DRAFT
    assert challenge.registration == Challenge.Registration.APPROVAL
    assert challenge.resolution == 32
    assert challenge.public_fraction == pytest.approx(0.4)
    assert challenge.description.startswith("# Welcome")
    assert challenge.rules == "Be kind. **No** copying style images."
    assert list(challenge.organizers.all()) == [organizer]
    development, final = challenge.phases.order_by("starts_at")
    assert development.starts_at == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert development.ends_at == dt.datetime(2026, 6, 30, 23, 59, 59, tzinfo=dt.UTC)
    assert (development.max_per_day, development.max_total, development.max_running) == (3, 50, 1)
    assert (development.time_limit_s, development.max_params) == (300, 5_000_000)
    assert final.starts_at == dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    assert final.ends_at == dt.datetime(2026, 7, 14, 10, tzinfo=dt.UTC)
    # Keys left out take the model's defaults.
    assert final.max_per_day == Phase._meta.get_field("max_per_day").default
    assert final.time_limit_s == Phase._meta.get_field("time_limit_s").default

    images = challenge.images
    assert images.filter(kind="content", split="public").count() == 2
    assert images.filter(kind="content", split="hidden").count() == 5
    assert images.filter(kind="style", split="public").count() == 2
    assert images.filter(kind="style", split="hidden").count() == 1
    assert images.filter(leaderboard="public").count() == 2
    assert images.filter(leaderboard="private").count() == 3
    assert progress[-1] == (10, 10)
    for image in images.all():
        assert default_storage.exists(image.file.name)
        assert image.size_bytes == default_storage.size(image.file.name)
    assert len(media_files()) == 10


def test_zip_bundle_inside_one_folder_imports(tmp_path: Path) -> None:
    source = write_zip(tmp_path / "b.zip", good_bundle_files(), prefix="my-challenge/")
    add_raw_entry(source, "__MACOSX/my-challenge/._challenge.toml", b"junk")
    challenge = challenge_bundle_import(source=source, limits=LIMITS)
    assert challenge.images.count() == 10


def test_published_bundle_is_published_on_import(tmp_path: Path) -> None:
    source = write_zip(tmp_path / "b.zip", good_bundle_files(status="published"))
    challenge = challenge_bundle_import(source=source, limits=LIMITS)
    assert challenge.status == Challenge.Status.PUBLISHED
    assert challenge.published_at is not None


def test_partition_is_deterministic_across_imports(tmp_path: Path) -> None:
    first = challenge_bundle_import(
        source=write_folder(tmp_path / "one", good_bundle_files(slug="one")), limits=LIMITS
    )
    files = good_bundle_files(slug="two")
    # The same images under other names and in another order land on the same sides.
    renamed = {
        (f"content/hidden/z-{name[-5:]}" if name.startswith("content/hidden") else name): data
        for name, data in reversed(list(files.items()))
    }
    second = challenge_bundle_import(source=write_folder(tmp_path / "two", renamed), limits=LIMITS)

    def sides(challenge: Challenge) -> dict[str, str]:
        return dict(
            challenge.images.filter(split="hidden", kind="content").values_list(
                "sha256", "leaderboard"
            )
        )

    assert sides(first) == sides(second)


# --- Hostile and broken bundles -------------------------------------------------------------


def test_zip_slip_is_refused(tmp_path: Path) -> None:
    source = write_zip(tmp_path / "b.zip", good_bundle_files())
    add_raw_entry(source, "content/public/../../../evil.png", image_bytes(1))
    error = refused(source)
    assert error.code == "bundle_path_traversal"
    assert error.message == errors.TRAVERSAL[1].format(path="content/public/../../../evil.png")
    assert_nothing_imported()
    assert not (tmp_path.parent / "evil.png").exists()


@pytest.mark.parametrize("name", ["/etc/cron.d/evil", "C:/Windows/evil.png", "\\\\server\\x.png"])
def test_absolute_paths_are_refused(tmp_path: Path, name: str) -> None:
    source = write_zip(tmp_path / "b.zip", good_bundle_files())
    add_raw_entry(source, name, b"x")
    error = refused(source)
    assert error.code == "bundle_absolute_path"
    assert error.message == errors.ABSOLUTE_PATH[1].format(path=name)
    assert_nothing_imported()


def test_symlink_in_zip_is_refused(tmp_path: Path) -> None:
    source = write_zip(tmp_path / "b.zip", good_bundle_files())
    add_symlink_entry(source, "content/public/passwd.png", "/etc/passwd")
    error = refused(source)
    assert error.code == "bundle_symlink"
    assert error.message == errors.SYMLINK[1].format(path="content/public/passwd.png")
    assert_nothing_imported()


def test_symlink_in_folder_is_refused(tmp_path: Path) -> None:
    source = write_folder(tmp_path / "bundle", good_bundle_files())
    os.symlink("/etc/passwd", source / "content" / "public" / "passwd.png")
    error = refused(source)
    assert error.code == "bundle_symlink"
    assert_nothing_imported()


def test_symlinked_folder_is_refused(tmp_path: Path) -> None:
    source = write_folder(tmp_path / "bundle", good_bundle_files())
    os.symlink(tmp_path, source / "style" / "loop")
    error = refused(source)
    assert error.code == "bundle_symlink"
    assert_nothing_imported()


def test_special_file_in_folder_is_refused(tmp_path: Path) -> None:
    source = write_folder(tmp_path / "bundle", good_bundle_files())
    os.mkfifo(source / "content" / "public" / "pipe.png")
    error = refused(source)
    assert error.code == "bundle_special_file"
    assert_nothing_imported()


def test_nested_archive_by_name_is_refused(tmp_path: Path) -> None:
    files = good_bundle_files()
    files["extra/more-images.zip"] = b"PK\x05\x06" + b"\x00" * 18
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert error.code == "bundle_nested_archive"
    assert error.message == errors.NESTED_ARCHIVE[1].format(path="extra/more-images.zip")
    assert_nothing_imported()


def test_nested_archive_disguised_as_image_is_refused(tmp_path: Path) -> None:
    inner = io.BytesIO()
    write_zip(tmp_path / "inner.zip", {"a.txt": b"a"})
    inner.write((tmp_path / "inner.zip").read_bytes())
    files = good_bundle_files()
    files["content/public/photo.png"] = inner.getvalue()
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert error.code == "bundle_nested_archive"
    assert "content/public/photo.png" in error.message
    assert_nothing_imported()


def test_too_many_files_is_refused_before_reading(tmp_path: Path) -> None:
    source = write_zip(tmp_path / "b.zip", good_bundle_files())
    limits = BundleLimits(max_files=5, max_bytes=LIMITS.max_bytes, max_image_pixels=10**7)
    error = refused(source, limits)
    assert error.code == "bundle_too_many_files"
    assert error.message == errors.TOO_MANY_FILES[1].format(limit=5)
    assert_nothing_imported()


def test_too_many_bytes_is_refused_before_reading(tmp_path: Path) -> None:
    files = good_bundle_files()
    files["notes/padding.txt"] = b"0" * 50_000  # compresses to almost nothing: a small bomb
    source = write_zip(tmp_path / "b.zip", files)
    limits = BundleLimits(max_files=100, max_bytes=40_000, max_image_pixels=10**7)
    error = refused(source, limits)
    assert error.code == "bundle_too_large"
    assert error.message == errors.TOO_MANY_BYTES[1].format(limit=40_000)
    assert_nothing_imported()


def test_missing_manifest_is_refused(tmp_path: Path) -> None:
    files = good_bundle_files()
    del files["challenge.toml"]
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert error.code == "bundle_missing_manifest"
    assert error.message == errors.MISSING_MANIFEST[1]
    assert_nothing_imported()


def test_invalid_toml_is_refused_with_the_parser_message(tmp_path: Path) -> None:
    files = good_bundle_files()
    files["challenge.toml"] = b'slug = "x"\ntitle = \n'
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert error.code == "bundle_invalid_toml"
    assert error.message.startswith("challenge.toml is not valid TOML: ")
    assert "line 2" in error.message
    assert_nothing_imported()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace(
                'task_kind = "single_style"', 'task_kind = "single_style"\nresoluton = 3'
            ),
            "challenge.toml: unknown key(s) `resoluton`.",
        ),
        (lambda t: t.replace('slug = "from-bundle"\n', ""), "challenge.toml: `slug` is required."),
        (
            lambda t: t.replace('slug = "from-bundle"', 'slug = "Not A Slug"'),
            "challenge.toml: `slug` must be lowercase letters, digits and single hyphens, "
            "at most 64 (got 'Not A Slug').",
        ),
        (
            lambda t: t.replace("resolution = 32", "resolution = 4096"),
            "challenge.toml: `resolution` must be between 32 and 1024 (got 4096).",
        ),
        (
            lambda t: t.replace("resolution = 32", "resolution = true"),
            "challenge.toml: `resolution` must be a whole number (got True).",
        ),
        (
            lambda t: t.replace('task_kind = "single_style"', 'task_kind = "video"'),
            "challenge.toml: `task_kind` must be one of single_style, arbitrary_style "
            "(got 'video').",
        ),
        (
            lambda t: t.replace("public_fraction = 0.4", "public_fraction = 1.5"),
            "challenge.toml: `public_fraction` must be strictly between 0 and 1 (got 1.5).",
        ),
        (
            lambda t: t.replace('status = "draft"', 'status = "archived"'),
            "challenge.toml: `status` must be 'draft' or 'published' (got 'archived').",
        ),
        (
            lambda t: t.replace("ends_at = 2026-06-30T23:59:59Z", "ends_at = 2025-06-30"),
            "challenge.toml: `ends_at` in phase 1 must be later than starts_at "
            "(got '2025-06-30T00:00:00+00:00').",
        ),
        (
            lambda t: t.replace('starts_at = "2026-01-01T00:00:00Z"', 'starts_at = "soon"'),
            "challenge.toml: `starts_at` in phase 1 must be an ISO 8601 date or date-time "
            "(got 'soon').",
        ),
        (
            lambda t: t.replace("max_per_day = 3", "max_per_day = 0"),
            "challenge.toml: `max_per_day` in phase 1 must be at least 1 (got 0).",
        ),
        (
            lambda t: t.replace("max_per_day = 3", "max_per_day = 3\nmax_gpus = 1"),
            "challenge.toml: unknown key(s) `max_gpus` in phase 1.",
        ),
        (
            lambda t: t.replace('name = "Final"', 'name = "Development"'),
            "challenge.toml: `phases` must have distinct names "
            "(got ['Development', 'Development']).",
        ),
        (lambda t: t.split("[[phases]]")[0], "challenge.toml: `phases` is required."),
        (
            lambda t: t.replace('description = "description.md"', 'description = "intro.md"'),
            "challenge.toml: `description` names the file 'intro.md', which is not in the bundle.",
        ),
    ],
    ids=[
        "unknown-key",
        "missing-slug",
        "bad-slug",
        "resolution-range",
        "resolution-bool",
        "task-kind",
        "fraction",
        "status",
        "phase-order",
        "phase-date",
        "phase-quota",
        "phase-unknown-key",
        "phase-names",
        "no-phases",
        "missing-text-file",
    ],
)
def test_invalid_manifest_values_are_refused(tmp_path: Path, edit, message: str) -> None:
    files = good_bundle_files()
    files["challenge.toml"] = edit(files["challenge.toml"].decode()).encode()
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert error.message == message
    assert error.code in {"bundle_invalid_manifest", "bundle_missing_file"}
    assert_nothing_imported()


def test_too_few_hidden_images_is_refused(tmp_path: Path) -> None:
    files = {k: v for k, v in good_bundle_files().items() if not k.startswith("content/hidden/")}
    files["content/hidden/only.png"] = image_bytes(99)
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert error.code == "bundle_too_few_images"
    assert error.message == errors.TOO_FEW_IMAGES[1].format(
        folder="content/hidden", minimum=2, count=1
    )
    assert_nothing_imported()


def test_truncated_image_is_refused_with_its_path(tmp_path: Path) -> None:
    files = good_bundle_files()
    whole = image_bytes(77, size=(200, 200))
    files["content/hidden/broken.png"] = whole[: len(whole) // 3]
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert error.code in {"image_corrupt", "image_not_an_image"}
    assert error.message.startswith("content/hidden/broken.png: ")
    assert_nothing_imported()


def test_non_image_in_image_folder_is_refused(tmp_path: Path) -> None:
    files = good_bundle_files()
    files["style/public/notes.txt"] = b"hello"
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert error.code == "bundle_not_an_image"
    assert error.message == errors.NOT_IMAGE_NAME[1].format(path="style/public/notes.txt")
    assert_nothing_imported()


def test_image_outside_the_four_folders_is_refused(tmp_path: Path) -> None:
    files = good_bundle_files()
    files["content/loose.png"] = image_bytes(3)
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert error.code == "bundle_stray_file"
    assert error.message == errors.STRAY_FILE[1].format(path="content/loose.png")
    assert_nothing_imported()


def test_duplicate_image_across_splits_is_refused(tmp_path: Path) -> None:
    files = good_bundle_files()
    # The same photo public and hidden would leak a test image into the training data.
    files["content/hidden/img-9.png"] = files["content/public/img-0.png"]
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert error.code == "bundle_duplicate_image"
    assert error.message == errors.DUPLICATE_IMAGE[1].format(
        path="content/public/img-0.png", other="content/hidden/img-9.png"
    )
    assert_nothing_imported()


def test_taken_slug_is_refused(tmp_path: Path) -> None:
    make_challenge(slug="from-bundle", status="draft")
    before = set(media_files())
    error = refused(write_zip(tmp_path / "b.zip", good_bundle_files()))
    assert error.code == "bundle_slug_taken"
    assert error.message == errors.SLUG_TAKEN[1].format(slug="from-bundle")
    assert Challenge.objects.count() == 1
    assert set(media_files()) == before


def test_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "bundle.zip"
    source.write_text("this is a text file")
    error = refused(source)
    assert error.code == "bundle_not_a_bundle"
    assert error.message == errors.NOT_A_BUNDLE[1].format(name="bundle.zip")


def test_damaged_zip_is_refused(tmp_path: Path) -> None:
    good = write_zip(tmp_path / "good.zip", good_bundle_files()).read_bytes()
    # Flip bytes inside the first entry's compressed data: the central directory still
    # parses, the entry's CRC does not match.
    damaged = bytearray(good)
    for offset in range(200, 260):
        damaged[offset] ^= 0xFF
    source = tmp_path / "damaged.zip"
    source.write_bytes(bytes(damaged))
    error = refused(source)
    assert error.code in {
        "bundle_corrupt",
        "bundle_invalid_toml",
        "bundle_invalid_manifest",
        "image_corrupt",
        "image_not_an_image",
    }
    assert_nothing_imported()


def test_failure_during_the_write_leaves_no_rows_and_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation passed, images were being stored, then the database write failed."""
    from competitions import services

    def explode(*, challenge: Challenge) -> None:
        assert len(media_files()) == 10  # every image file was written before the failure
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "challenge_images_partition", explode)
    with pytest.raises(RuntimeError, match="database went away"):
        challenge_bundle_import(
            source=write_folder(tmp_path / "bundle", good_bundle_files()), limits=LIMITS
        )
    assert_nothing_imported()


# --- The command ----------------------------------------------------------------------------


def test_import_challenge_command(tmp_path: Path, organizer) -> None:
    source = write_zip(tmp_path / "b.zip", good_bundle_files())
    out = io.StringIO()
    call_command("import_challenge", str(source), "--organizer", organizer.username, stdout=out)
    assert "Imported “Bundle Challenge” (from-bundle): 10 images, 2 phase(s), status draft." in (
        out.getvalue()
    )
    assert Challenge.objects.get(slug="from-bundle").organizers.filter(pk=organizer.pk).exists()


def test_import_challenge_command_reports_the_reason(tmp_path: Path) -> None:
    files = good_bundle_files()
    del files["challenge.toml"]
    with pytest.raises(CommandError) as caught:
        call_command("import_challenge", str(write_zip(tmp_path / "b.zip", files)))
    assert str(caught.value) == f"{errors.MISSING_MANIFEST[1]} [bundle_missing_manifest]"
    assert_nothing_imported()


# --- Hostile values: bounds, dates, texts ---------------------------------------------------


def edited_bundle(tmp_path: Path, old: str, new: str) -> Path:
    files = good_bundle_files()
    manifest = files["challenge.toml"].decode()
    assert old in manifest
    files["challenge.toml"] = manifest.replace(old, new, 1).encode()
    return write_zip(tmp_path / "b.zip", files)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'starts_at = "2026-01-01T00:00:00Z"',
            'starts_at = "0001-01-01T00:30:00+01:00"',
            "challenge.toml: `starts_at` in phase 1 is outside the dates this site can store "
            "(years 1 to 9999 in UTC) (got '0001-01-01T00:30:00+01:00').",
        ),
        (
            "ends_at = 2026-06-30T23:59:59Z",
            'ends_at = "9999-12-31T23:59:59-10:00"',
            "challenge.toml: `ends_at` in phase 1 is outside the dates this site can store "
            "(years 1 to 9999 in UTC) (got '9999-12-31T23:59:59-10:00').",
        ),
        (
            'ends_at = "2026-07-14T12:00:00+02:00"',
            "ends_at = 9999-12-31T23:59:59-10:00",
            "challenge.toml: `ends_at` in phase 2 is outside the dates this site can store "
            "(years 1 to 9999 in UTC) (got '9999-12-31T23:59:59-10:00').",
        ),
    ],
    ids=["string-before-year-1", "string-after-year-9999", "toml-date-time"],
)
def test_date_that_leaves_the_range_in_utc_is_refused_naming_the_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    source = edited_bundle(tmp_path, old, new)
    error = refused(source)
    assert (error.code, error.message) == ("bundle_invalid_manifest", message)
    assert_nothing_imported()
    with pytest.raises(CommandError) as caught:
        call_command("import_challenge", str(source))
    assert str(caught.value) == f"{message} [bundle_invalid_manifest]"
    assert_nothing_imported()


def test_the_last_storable_moment_imports(tmp_path: Path) -> None:
    source = edited_bundle(
        tmp_path, 'ends_at = "2026-07-14T12:00:00+02:00"', 'ends_at = "9999-12-31T23:59:59Z"'
    )
    challenge = challenge_bundle_import(source=source, limits=LIMITS)
    assert challenge.phases.get(name="Final").ends_at.year == 9999


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "time_limit_s = 300",
            "time_limit_s = 1000000000000000",
            "challenge.toml: `time_limit_s` in phase 1 must be at most 3,600 "
            "(got 1000000000000000).",
        ),
        (
            "time_limit_s = 300",
            "time_limit_s = 0",
            "challenge.toml: `time_limit_s` in phase 1 must be at least 1 (got 0).",
        ),
        (
            "max_total = 50",
            "max_total = 1000001",
            "challenge.toml: `max_total` in phase 1 must be at most 1,000,000 (got 1000001).",
        ),
        (
            "max_params = 5000000",
            "max_params = 1000000000000",
            "challenge.toml: `max_params` in phase 1 must be at most 50,000,000 "
            "(got 1000000000000).",
        ),
        (
            'ends_at = "2026-07-14T12:00:00+02:00"',
            'ends_at = "2026-07-14T12:00:00+02:00"\nmax_checkpoint_bytes = 4611686018427387904',
            "challenge.toml: `max_checkpoint_bytes` in phase 2 must be at most 524,288,000 "
            "(got 4611686018427387904).",
        ),
    ],
    ids=["time-limit-huge", "time-limit-zero", "quota", "params", "checkpoint-bytes"],
)
def test_phase_numbers_outside_the_models_bounds_are_refused(
    tmp_path: Path, settings, old: str, new: str, message: str
) -> None:
    settings.ATELIER_MAX_TIME_LIMIT_S = 3_600
    settings.ATELIER_MAX_GENERATOR_PARAMS = 50_000_000
    settings.ATELIER_MAX_UPLOAD_BYTES = 500 * 1024 * 1024
    error = refused(edited_bundle(tmp_path, old, new))
    assert (error.code, error.message) == ("bundle_invalid_manifest", message)
    assert_nothing_imported()


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("description", 'description = "description.md"'),
        ("rules", 'rules = "Be kind. **No** copying style images."'),
    ],
)
def test_markdown_over_the_limit_is_refused(tmp_path: Path, settings, key: str, line: str) -> None:
    settings.ATELIER_MARKDOWN_MAX_CHARS = 1_000
    files = good_bundle_files()
    files["challenge.toml"] = files["challenge.toml"].replace(
        line.encode(), f'{key} = "long.md"'.encode()
    )
    files["long.md"] = "é".encode() * 1_001
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert (error.code, error.message) == (
        "bundle_text_too_long",
        errors.TEXT_TOO_LONG[1].format(key=key, length=1_001, limit=1_000),
    )
    assert_nothing_imported()


def test_markdown_file_too_large_is_refused_unread(tmp_path: Path, settings) -> None:
    settings.ATELIER_MARKDOWN_MAX_CHARS = 1_000
    files = good_bundle_files()
    files["description.md"] = b"a" * 4_001
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert (error.code, error.message) == (
        "bundle_text_too_long",
        errors.TEXT_FILE_TOO_LARGE[1].format(
            key="description", path="description.md", size=4_001, limit=1_000
        ),
    )


def test_markdown_too_complex_to_render_is_refused_naming_the_key(tmp_path: Path) -> None:
    files = good_bundle_files()
    files["description.md"] = b"word " * 2_500  # one paragraph of 12,500 characters
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert (error.code, error.message) == (
        "bundle_invalid_manifest",
        "challenge.toml: `description`: "
        + PARAGRAPH_TOO_LONG.format(length=12_500, limit=PARAGRAPH_MAX_CHARS),
    )
    assert_nothing_imported()


def test_imported_markdown_is_stored_rendered_and_sanitised(tmp_path: Path) -> None:
    challenge = challenge_bundle_import(
        source=write_zip(tmp_path / "b.zip", good_bundle_files()), limits=LIMITS
    )
    assert challenge.description_html.startswith("<h1>Welcome</h1>")
    assert "<script" not in challenge.description_html
    assert challenge.rules_html == "<p>Be kind. <strong>No</strong> copying style images.</p>"


def test_long_values_are_quoted_shortened(tmp_path: Path) -> None:
    error = refused(edited_bundle(tmp_path, 'title = "Bundle Challenge"', f'title = "{"t" * 500}"'))
    assert error.message == (
        "challenge.toml: `title` must be between 1 and 200 characters "
        f"(got '{'t' * (QUOTED_VALUE_MAX_CHARS - 2)}…)."
    )


def test_toml_nested_too_deeply_is_refused(tmp_path: Path) -> None:
    files = good_bundle_files()
    files["challenge.toml"] += b"\nx = " + b"[" * 5_000 + b"]" * 5_000 + b"\n"
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert (error.code, error.message) == ("bundle_invalid_toml", errors.TOML_TOO_DEEP[1])


def test_oversized_manifest_is_refused_unread(tmp_path: Path, settings) -> None:
    settings.ATELIER_MARKDOWN_MAX_CHARS = 1_000
    files = good_bundle_files()
    files["challenge.toml"] += b"#" * (1024 * 1024 + 8_000)
    size = len(files["challenge.toml"])
    error = refused(write_zip(tmp_path / "b.zip", files))
    assert (error.code, error.message) == (
        "bundle_invalid_manifest",
        errors.MANIFEST_TOO_LARGE[1].format(size=size, limit=8_000 + 1024 * 1024),
    )


def deflated_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_damaged_compressed_data_is_refused(tmp_path: Path) -> None:
    source = deflated_zip(tmp_path / "b.zip", good_bundle_files())
    data = bytearray(source.read_bytes())
    # The first entry is challenge.toml; its deflate stream starts after the local header.
    start = 30 + len("challenge.toml")
    data[start : start + 2] = b"\xff\xff"
    source.write_bytes(bytes(data))
    error = refused(source)
    assert error.code == "bundle_corrupt"
    assert error.message.startswith("The zip archive is damaged and cannot be read (Error -3")


def test_unsupported_compression_method_is_refused(tmp_path: Path) -> None:
    source = deflated_zip(tmp_path / "b.zip", good_bundle_files())
    data = bytearray(source.read_bytes())
    central = data.find(b"PK\x01\x02")
    method = struct.pack("<H", 99)  # 99: AES encryption, which zipfile cannot read
    data[8:10], data[central + 10 : central + 12] = method, method
    source.write_bytes(bytes(data))
    error = refused(source)
    assert (error.code, error.message) == (
        "bundle_unsupported_zip",
        errors.UNSUPPORTED_ZIP[1].format(
            path="challenge.toml", detail="That compression method is not supported"
        ),
    )
