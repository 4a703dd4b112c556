"""The shared store: PostgreSQL through psycopg 3, for several coordinators on one database."""

from .store import PostgresStore

__all__ = ["PostgresStore"]
