"""Repositories: the only place with SQL. Plain functions over a Session."""

from __future__ import annotations
