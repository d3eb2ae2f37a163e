"""Imports every command module so that its commands are registered."""

from __future__ import annotations

from newsletter.cli import (
    config_cmd,
    content_cmd,
    db_cmd,
    feeds_cmd,
    hold_cmd,
    issue_cmd,
    lifecycle_cmd,
    lists_cmd,
    preview_cmd,
    queue_cmd,
    quickstart_cmd,
    scheduler_cmd,
    send_cmd,
    serve_cmd,
    status_cmd,
    subscribers_cmd,
    suppressions_cmd,
    unknown_cmd,
    users_cmd,
)

__all__ = [
    "config_cmd",
    "content_cmd",
    "db_cmd",
    "feeds_cmd",
    "hold_cmd",
    "issue_cmd",
    "lifecycle_cmd",
    "lists_cmd",
    "preview_cmd",
    "queue_cmd",
    "quickstart_cmd",
    "scheduler_cmd",
    "send_cmd",
    "serve_cmd",
    "status_cmd",
    "subscribers_cmd",
    "suppressions_cmd",
    "unknown_cmd",
    "users_cmd",
]
