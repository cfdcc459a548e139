"""Timestamps as the tables keep them: every one is UTC. PostgreSQL hands back aware datetimes, SQLite
naive ones; these helpers are the one place that knows."""

from __future__ import annotations

import datetime as dt

__all__ = ["aware", "unix", "utc"]


def utc(seconds: int | float) -> dt.datetime:
    """Unix ``seconds`` as an aware UTC datetime, for a timestamp column."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def aware(value: dt.datetime) -> dt.datetime:
    """A timestamp column's value as an aware datetime (a naive value is UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def unix(value: dt.datetime) -> int:
    """A timestamp column's value as whole Unix seconds."""
    return int(aware(value).timestamp())
