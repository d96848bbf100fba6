"""The packages depend one way, in the order ARCHITECTURE.md writes down: each may import the
ones before it in `ORDER`, never one after, at module level or inside a function; the pure
ones (`PURE`) import no Django at all."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
# Lowest first. A dotted name is the pure core of an app, placed below the Django apps.
ORDER = (
    "models",
    "scoring.engine",
    "leaderboard.ranking",
    "config",
    "accounts",
    "competitions",
    "scoring",
    "submissions",
    "leaderboard",
    "forum",
    "demo",
)
PURE = ("models", "scoring.engine", "leaderboard.ranking")
# The composition root: the routes of every app.
ROOT = ("config/urls.py", "config/api_urls.py")


def package_of(module: str) -> str | None:
    """The package of ORDER a dotted module belongs to (the longest that matches), if any."""
    matches = [name for name in ORDER if module == name or module.startswith(name + ".")]
    return max(matches, key=len) if matches else None


def module_of(path: Path) -> str:
    relative = path.relative_to(REPOSITORY).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import statement of a file, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            base = node.module
            # `from scoring import engine` imports scoring.engine.
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def violations(path: Path) -> list[str]:
    importer = package_of(module_of(path))
    if importer is None or str(path.relative_to(REPOSITORY)) in ROOT:
        return []
    wrong = []
    for line, module in imported_modules(path):
        where = f"{path.relative_to(REPOSITORY)}:{line} ({importer}) imports {module}"
        if importer in PURE and module.split(".")[0] == "django":
            wrong.append(where)
        imported = package_of(module)
        if imported is not None and ORDER.index(imported) > ORDER.index(importer):
            wrong.append(f"{where} ({imported}, later in the order)")
    return wrong


def source_files() -> list[Path]:
    tops = {name.split(".")[0] for name in ORDER}
    return sorted(path for top in tops for path in (REPOSITORY / top).rglob("*.py"))


@pytest.mark.parametrize("top", sorted({name.split(".")[0] for name in ORDER}))
def test_every_import_goes_down_the_order(top: str) -> None:
    files = [path for path in source_files() if path.relative_to(REPOSITORY).parts[0] == top]
    assert files
    assert [wrong for path in files for wrong in violations(path)] == []


def test_the_order_is_the_one_architecture_md_writes_down() -> None:
    table = (REPOSITORY / "ARCHITECTURE.md").read_text()
    written = re.findall(r"^\| `([a-z_./]+)` \| .* \| (?:yes|no) \|$", table, flags=re.MULTILINE)
    packages = [name.removesuffix(".py").rstrip("/").replace("/", ".") for name in written]
    assert packages == list(ORDER)


def test_the_check_sees_function_level_and_upward_imports(tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text("def f():\n    from scoring import engine\n    import django\n")
    assert imported_modules(source) == [(2, "scoring.engine"), (3, "django")]
    assert package_of("scoring.engine.metrics") == "scoring.engine"
    assert package_of("scoring.models") == "scoring"
    assert package_of("leaderboard.ranking") == "leaderboard.ranking"
    assert package_of("numpy") is None
