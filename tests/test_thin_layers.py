"""The web layers stay thin: admin, views, APIs and forms call services for every write and
every task they queue, and a Celery task only loads what it needs and calls a service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
APPS = (
    "accounts",
    "competitions",
    "config",
    "demo",
    "forum",
    "leaderboard",
    "scoring",
    "submissions",
)
THIN = ("admin.py", "views.py", "apis.py", "forms.py")
# Writes to the database through a queryset or a manager, and ways of queueing work.
WRITES = {
    "update",
    "delete",
    "create",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
}
QUEUEING = {"delay", "apply_async", "send_task", "on_commit"}
TASK_DECORATORS = {"shared_task", "task"}
LONGEST_TASK = 30


def thin_files() -> list[Path]:
    return sorted(
        path for app in APPS for path in (REPOSITORY / app).rglob("*.py") if path.name in THIN
    )


def writes_and_queueing(path: Path) -> list[str]:
    """Calls in `path` that write through a queryset or manager, or queue work."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        receiver = ast.unparse(node.func.value)
        through_orm = ".objects" in receiver or ".filter(" in receiver or ".all(" in receiver
        if (node.func.attr in WRITES and through_orm) or node.func.attr in QUEUEING:
            found.append(f"{path.name}:{node.lineno} {ast.unparse(node)[:80]}")
    return found


def long_tasks(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.FunctionDef):
            continue
        names = {
            ast.unparse(decorator.func if isinstance(decorator, ast.Call) else decorator)
            for decorator in node.decorator_list
        }
        is_task = any(name.split(".")[-1] in TASK_DECORATORS for name in names)
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if is_task and length > LONGEST_TASK:
            found.append(f"{path.relative_to(REPOSITORY)}:{node.lineno} {node.name}: {length}")
    return found


def test_admin_views_apis_and_forms_write_and_queue_only_through_services() -> None:
    assert thin_files()
    assert [found for path in thin_files() for found in writes_and_queueing(path)] == []


def test_no_task_is_longer_than_thirty_lines() -> None:
    sources = [path for app in APPS for path in (REPOSITORY / app).rglob("*.py")]
    assert [found for path in sources for found in long_tasks(path)] == []


@pytest.mark.parametrize(
    "source",
    [
        "Submission.objects.filter(pk=1).update(status='x')",
        "challenge.phases.all().delete()",
        "task.delay(1)",
        "transaction.on_commit(lambda: None)",
    ],
)
def test_the_check_sees_a_write_or_a_queued_task(tmp_path: Path, source: str) -> None:
    path = tmp_path / "views.py"
    path.write_text(f"def view():\n    {source}\n")
    assert len(writes_and_queueing(path)) == 1


def test_the_check_leaves_dictionaries_alone(tmp_path: Path) -> None:
    path = tmp_path / "views.py"
    path.write_text("def view(context, attrs):\n    context.update(a=1)\n    attrs.update(b=2)\n")
    assert writes_and_queueing(path) == []
