"""Fixtures of the Store contract suite.

- `any_store_url`: runs the test once per store ("memory", "sqlite",
  "postgres"), each fresh and empty.
"""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def any_store_url(request: pytest.FixtureRequest) -> str:
    """A fresh store URL of each kind. The memory one is named, so stores
    opened on it one after the other share their data, as with a database."""
    if request.param == "memory":
        return f"memory://test-{uuid.uuid4().hex}"
    fixture = {"sqlite": "sqlite_url", "postgres": "pg_url"}[request.param]
    url: str = request.getfixturevalue(fixture)
    return url
