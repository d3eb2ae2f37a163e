"""Commands: filled in by the issue_cmd work."""

from __future__ import annotations
