"""Run the newsletter scheduler: ``python scheduler.py [--once] [--now 2026-11-24T09:00]``.

See docs/operations.md for running it under systemd or in a container.
"""

from __future__ import annotations

import sys

from newsletter.scheduling.entry import main

if __name__ == "__main__":
    sys.exit(main())
