"""The embedded store: SQLite on one writer thread with group commit."""

from .store import SqliteStore

__all__ = ["SqliteStore"]
