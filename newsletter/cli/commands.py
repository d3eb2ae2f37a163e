"""Imports every command module so that its commands are registered."""

from __future__ import annotations

from newsletter.cli import config_cmd, db_cmd

__all__ = ["config_cmd", "db_cmd"]
