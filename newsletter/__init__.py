"""A self-hosted weekly newsletter pipeline.

The flow runs one way: content → assembly → render → ledger → sender.
"""

from __future__ import annotations

__version__ = "0.1.0"
