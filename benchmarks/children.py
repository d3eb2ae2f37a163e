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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


# A waited-for child's ``ru_maxrss`` starts at its parent's RSS: Linux carries the
# parent's high-water mark over fork and exec, so a benchmark parent holding a parsed data
# set would be reported as its child's peak. A ``python -c`` child therefore writes its own
# VmHWM (the peak of its own address space, threads included) to a file as it exits.
_REPORT_PEAK = (
    "import atexit as _a, os as _o\n"
    "def _peak():\n"
    "    with open('/proc/self/status') as s, open(_o.environ['NL_BENCH_PEAK_FILE'], 'w') as o:\n"
    "        o.write(next(x for x in s if x.startswith('VmHWM:')).split()[1])\n"
    "_a.register(_peak)\n"
)


@dataclass(frozen=True)
class Child:
    wall: float
    cpu: float  # user + system seconds of the child itself
    peak_mb: float  # the child's own peak RSS (VmHWM at exit)
    stdout: str
    stderr: str
    returncode: int


def spawn(argv: list[str], env: dict[str, str]) -> Child:
    """Run one ``python -c CODE ...`` child to the end and measure it."""
    if len(argv) < 3 or argv[1] != "-c":
        raise ValueError("children are `python -c CODE ...`, so they can report their peak")
    with tempfile.TemporaryDirectory(prefix="nl-child-") as tmp:
        peak_file = Path(tmp) / "peak"
        code = [argv[0], "-c", _REPORT_PEAK + argv[2], *argv[3:]]
        with (Path(tmp) / "out").open("w+b") as out, (Path(tmp) / "err").open("w+b") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(
                code, env={**env, "NL_BENCH_PEAK_FILE": str(peak_file)}, stdout=out, stderr=err
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(), err.read().decode()
        peak_kb = float(peak_file.read_text()) if peak_file.exists() else float("nan")
    return Child(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_mb=peak_kb / 1024,
        stdout=stdout,
        stderr=stderr,
        returncode=os.waitstatus_to_exitcode(status),
    )


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB of the child, stdout) of one child; exits on failure."""
    child = spawn(argv, env)
    if child.returncode != 0:
        sys.exit(f"{argv[2:]} failed ({child.returncode}):\n{child.stderr[-4000:]}")
    return child.wall, child.peak_mb, child.stdout


@contextmanager
def fake_sendgrid(port: int) -> Iterator[None]:
    """The project's fake SendGrid in its own process (its memory and CPU not counted)."""
    fake = subprocess.Popen(
        [sys.executable, "-m", "newsletter.testing.fake_sendgrid", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert fake.stdout is not None
        fake.stdout.readline()  # "listening on ...": it accepts requests from here on
        yield
    finally:
        fake.terminate()
        fake.wait(timeout=30)
