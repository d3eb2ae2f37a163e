"""Commands: filled in by the suppressions_cmd work."""

from __future__ import annotations
