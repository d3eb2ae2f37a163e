"""Assembly: pick one issue's articles and tips from the library (pure, deterministic)."""

from __future__ import annotations

from newsletter.assembly.plan import ContentHistory, IssuePlan, SentIssue
from newsletter.assembly.rules import assemble, default_preheader

__all__ = ["ContentHistory", "IssuePlan", "SentIssue", "assemble", "default_preheader"]
