"""What the process-level benchmarks share: loading a sibling benchmark, timing a child.

Benchmarks run as scripts, so their own folder is on ``sys.path`` and ``import children``
finds this file.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
CLI = "import sys; from newsletter.cli import main; sys.argv[0] = 'newsletter'; main()"


def load_sibling(name: str) -> ModuleType:
    """A sibling benchmark as a module (``import.py`` cannot be imported by name)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "benchmarks" / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB of the child, stdout) of one child; exits on failure."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            sys.exit(f"{argv[2:]} failed ({proc.returncode}):\n{err.read().decode()[-4000:]}")
        return wall, usage.ru_maxrss / 1024, out.read().decode()
