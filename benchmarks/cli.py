"""CLI start-up benchmark (issue #14): CPU time and peak memory of a command.

    python benchmarks/cli.py [--runs 5]

Runs ``newsletter --help`` and ``newsletter status`` (on a fresh, migrated SQLite file)
RUNS times each in a child process and prints the median CPU time (user + system) and
the peak RSS, next to a bare ``python -c pass`` measured in the same run, and next to the
floor of what ``status`` could not do without before round 3: importing the settings
and the storage models (SQLAlchemy ORM) and nothing else. Budget: each command <= 0.35 s
of CPU, median of 5.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from children import spawn

BUDGET_CPU_S = 0.35
CLI = "import sys; from newsletter.cli import main; sys.argv[0] = 'newsletter'; main()"
FLOOR = "import newsletter.settings, newsletter.storage.models"


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, peak RSS in MB) of one child process."""
    child = spawn(command, env)
    if child.returncode != 0:
        sys.exit(f"{command} failed ({child.returncode}): {child.stderr}")
    return child.cpu, child.peak_mb


def series(command: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    results = [measure(command, env) for _ in range(runs)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nl-cli-bench-") as tmp:
        env = {**os.environ, "NEWSLETTER_DATABASE_URL": f"sqlite:///{Path(tmp) / 'cli.db'}"}
        python = [sys.executable, "-c"]
        measure([*python, CLI, "db", "upgrade"], env)
        bare_cpu, bare_rss = series([*python, "pass"], env, args.runs)
        print(f"bare `python -c pass`: {bare_cpu:.3f} s CPU, peak RSS {bare_rss:.0f} MB")
        floor_cpu, floor_rss = series([*python, FLOOR], env, args.runs)
        print(
            f"floor `{FLOOR}`: {floor_cpu:.3f} s CPU, peak RSS {floor_rss:.0f} MB "
            f"(settings + ORM models, nothing else)"
        )
        for label, argv in (("--help", ["--help"]), ("status", ["status"])):
            cpu, rss = series([*python, CLI, *argv], env, args.runs)
            verdict = "OK" if cpu <= BUDGET_CPU_S else "OVER BUDGET"
            print(
                f"newsletter {label}: {cpu:.3f} s CPU (median of {args.runs}), peak RSS "
                f"{rss:.0f} MB; {cpu - bare_cpu:.3f} s above bare; "
                f"budget <= {BUDGET_CPU_S} s: {verdict}"
            )


if __name__ == "__main__":
    main()
