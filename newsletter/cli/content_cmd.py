"""Commands: filled in by the content_cmd work."""

from __future__ import annotations
