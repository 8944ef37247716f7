"""Errors the store raises for things a user asked for that do not exist or already do."""

from __future__ import annotations


class StoreError(Exception):
    """A request the store cannot satisfy, with a sentence for the user."""


class NotFound(StoreError):
    """No row of that name."""


class AlreadyExists(StoreError):
    """A row of that name exists already."""


class TooLong(StoreError):
    """A value longer than its column holds (PostgreSQL would refuse it, SQLite keep it)."""
