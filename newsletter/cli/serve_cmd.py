"""Commands: filled in by the serve_cmd work."""

from __future__ import annotations
