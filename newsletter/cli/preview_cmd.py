"""Commands: filled in by the preview_cmd work."""

from __future__ import annotations
