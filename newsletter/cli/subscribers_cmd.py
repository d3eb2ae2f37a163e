"""Commands: filled in by the subscribers_cmd work."""

from __future__ import annotations
