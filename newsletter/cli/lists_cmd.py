"""Commands: filled in by the lists_cmd work."""

from __future__ import annotations
