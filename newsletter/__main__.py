"""``python -m newsletter`` is the same as the ``newsletter`` command."""

from __future__ import annotations

from newsletter.cli import main

main()
