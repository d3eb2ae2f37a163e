"""The CLI's start-up stays lean: ``newsletter --help`` imports no server or API client.

A subprocess, so that nothing another test imported counts.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("fastapi", "starlette", "uvicorn", "sendgrid", "trafilatura", "feedparser")

PROBE = f"""
import sys
sys.argv = ["newsletter", "--help"]
from newsletter.cli import main
try:
    main()
except SystemExit:
    pass
loaded = [m for m in {HEAVY!r} if m in sys.modules]
print("LOADED=" + ",".join(loaded), file=sys.stderr)
"""


def test_help_imports_no_web_server_or_api_client() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED=\n" in done.stderr or done.stderr.rstrip().endswith("LOADED="), done.stderr
    assert "Usage" in done.stdout


def test_importing_the_console_users_service_hashes_nothing() -> None:
    # An argon2 hash at import cost every command ~0.5 s of CPU and 64 MB of memory.
    probe = (
        "import argon2\n"
        "def refuse(*args, **kwargs):\n"
        "    raise SystemExit('hashed at import')\n"
        "argon2.PasswordHasher.hash = refuse\n"
        "import newsletter.services.users\n"
        "import newsletter.cli.commands\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
