"""The pure packages depend one way: `scoring/engine` may import `models`, never the reverse,
and neither imports Django or a Django app, at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
APPS = ("accounts", "competitions", "config", "forum", "leaderboard", "scoring", "submissions")
# package folder → the top-level names (or dotted prefixes) it may not import
FORBIDDEN = {
    "models": ("django", *APPS),
    "scoring/engine": ("django", *(app for app in APPS if app != "scoring")),
}
# scoring/engine may import scoring.engine itself, and nothing else of the scoring app.
ENGINE_OWN = "scoring.engine"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import statement of a file, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def violations(package: str) -> list[str]:
    wrong = []
    for path in sorted((REPOSITORY / package).rglob("*.py")):
        for line, module in imported_modules(path):
            top = module.split(".")[0]
            engine_import = package == "scoring/engine" and (
                module == ENGINE_OWN or module.startswith(ENGINE_OWN + ".")
            )
            if top in FORBIDDEN[package] and not engine_import:
                wrong.append(f"{path.relative_to(REPOSITORY)}:{line} imports {module}")
            if package == "scoring/engine" and top == "scoring" and not engine_import:
                wrong.append(f"{path.relative_to(REPOSITORY)}:{line} imports {module}")
    return wrong


@pytest.mark.parametrize("package", FORBIDDEN)
def test_the_pure_packages_import_only_downwards(package: str) -> None:
    assert violations(package) == []


def test_the_check_sees_function_level_imports(tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text("def f():\n    from scoring.engine import metrics\n    import django\n")
    assert imported_modules(source) == [(2, "scoring.engine"), (3, "django")]
