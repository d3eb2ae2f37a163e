"""One router per family of pages; ``create_app`` includes them all."""

from __future__ import annotations
