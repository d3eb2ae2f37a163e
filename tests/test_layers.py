"""The layering rules of docs/architecture.md, checked on the source (ast), not by eye.

- services never import a face (``newsletter.cli``, ``newsletter.web``,
  ``newsletter.scheduling``);
- a face never imports another face; the single hand-over is ``newsletter scheduler``
  starting the scheduler's entry function, inside the command, never at import time;
- the domain (content, assembly, render) imports no storage, delivery, service or face;
- ``schedule_rules``, which services and the scheduler share, imports neither;
- CLI commands do not open database sessions themselves (``newsletter.storage.db``,
  repository functions): they get them through ``newsletter.services``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "newsletter"
FACES = ("newsletter.cli", "newsletter.web", "newsletter.scheduling")
DOMAIN = ("newsletter.content", "newsletter.assembly", "newsletter.render")
BELOW_DOMAIN_FORBIDDEN = (
    "newsletter.storage",
    "newsletter.delivery",
    "newsletter.services",
    *FACES,
)
LAUNCHERS = {("newsletter.cli.scheduler_cmd", "newsletter.scheduling.entry")}
"""Face-to-face imports allowed inside a function: the CLI command that is the scheduler."""


@dataclass(frozen=True)
class Import:
    module: str
    """The importing module."""
    target: str
    line: int
    top_level: bool
    """At import time (module body), as opposed to inside a function."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(path: Path) -> list[Import]:
    module = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if isinstance(child, ast.Import):
                found.extend(Import(module, a.name, child.lineno, top) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(module, path, child)
                for alias in child.names:
                    # ``from newsletter.services import queue`` imports newsletter.services.queue.
                    found.append(Import(module, f"{base}.{alias.name}", child.lineno, top))
            visit(child, inner)

    visit(tree, True)
    return found


def all_imports() -> list[Import]:
    files = [*sorted(PACKAGE.rglob("*.py")), REPO_ROOT / "scheduler.py"]
    return [imp for path in files for imp in imports_of(path)]


def _within(name: str, prefixes: tuple[str, ...] | str) -> bool:
    chosen = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in chosen)


def _face(name: str) -> str | None:
    if name == "scheduler":
        return "newsletter.scheduling"  # scheduler.py, the scheduler's script
    return next((f for f in FACES if _within(name, f)), None)


def _opens_sessions(target: str) -> bool:
    """Sessions, engines or repository functions; a repository's data type (``BatchInfo``)
    is only a name for what a service returned, and may be imported."""
    if _within(target, "newsletter.storage.db"):
        return True
    if not _within(target, "newsletter.storage.repositories"):
        return False
    return not target.rsplit(".", 1)[-1][:1].isupper()


def violations(imports: list[Import]) -> list[str]:
    found: list[str] = []
    for imp in imports:
        where = f"{imp.module}:{imp.line} imports {imp.target}"
        source_face, target_face = _face(imp.module), _face(imp.target)
        if _within(imp.module, ("newsletter.services", "newsletter.schedule_rules")) and (
            target_face is not None
        ):
            found.append(f"{where}: a service (or shared rule) imports a face")
        if _within(imp.module, "newsletter.schedule_rules") and _within(
            imp.target, ("newsletter.services", "newsletter.storage", "newsletter.delivery")
        ):
            found.append(f"{where}: the shared schedule rules must stay below services")
        if source_face and target_face and source_face != target_face:
            allowed = not imp.top_level and any(
                imp.module == m and _within(imp.target, t) for m, t in LAUNCHERS
            )
            if not allowed:
                found.append(f"{where}: a face imports another face")
        if _within(imp.module, DOMAIN) and _within(imp.target, BELOW_DOMAIN_FORBIDDEN):
            found.append(f"{where}: the domain imports storage, delivery, a service or a face")
        if (
            _within(imp.module, "newsletter.cli") and _opens_sessions(imp.target)
        ):
            found.append(f"{where}: a CLI command opens sessions itself; use a service")
    return found


def test_the_package_keeps_its_layers() -> None:
    assert violations(all_imports()) == []


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        (
            "newsletter/services/example.py",
            "from newsletter.scheduling.leader import LEASE_TTL\n",
            "a service (or shared rule) imports a face",
        ),
        (
            "newsletter/services/example.py",
            "def f():\n    from newsletter.cli import common\n",
            "a service (or shared rule) imports a face",
        ),
        (
            "newsletter/cli/example.py",
            "from newsletter.scheduling.clock import make_clock\n",
            "a face imports another face",
        ),
        (
            "newsletter/cli/scheduler_cmd.py",
            "from newsletter.scheduling.entry import run\n",
            "a face imports another face",
        ),
        (
            "newsletter/web/example.py",
            "from newsletter.cli import common\n",
            "a face imports another face",
        ),
        (
            "newsletter/cli/example.py",
            "from newsletter.storage.db import session_factory\n",
            "a CLI command opens sessions itself; use a service",
        ),
        (
            "newsletter/cli/example.py",
            "from newsletter.storage.repositories import issues\n",
            "a CLI command opens sessions itself; use a service",
        ),
        (
            "newsletter/cli/example.py",
            "from newsletter.storage.repositories.ledger import batch_infos\n",
            "a CLI command opens sessions itself; use a service",
        ),
        (
            "newsletter/render/example.py",
            "from newsletter.storage import models\n",
            "the domain imports storage, delivery, a service or a face",
        ),
        (
            "newsletter/schedule_rules/example.py",
            "from newsletter.services import timing\n",
            "the shared schedule rules must stay below services",
        ),
    ],
)
def test_each_rule_catches_its_violation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, source: str, expected: str
) -> None:
    fake_root = tmp_path / "repo"
    target = fake_root / path
    target.parent.mkdir(parents=True)
    target.write_text(source)
    monkeypatch.setattr(f"{__name__}.REPO_ROOT", fake_root)
    problems = violations(imports_of(target))
    assert [p.split(": ", 1)[1] for p in problems] == [expected]


def test_the_scheduler_command_starts_the_scheduler_only_when_run() -> None:
    """The allowed hand-over is inside the command function, not at import time."""
    found = [
        imp
        for imp in imports_of(PACKAGE / "cli" / "scheduler_cmd.py")
        if _within(imp.target, "newsletter.scheduling")
    ]
    assert found and all(not imp.top_level for imp in found)
