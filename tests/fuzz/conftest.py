"""The fuzzer's settings and its coordinators.

Hypothesis profiles: `ci` (the default, bounded for `make test`) and `long`
(`make fuzz`); pick one with KEEL_FUZZ_PROFILE, and scale the number of
examples with KEEL_FUZZ_EXAMPLES.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from hypothesis import HealthCheck, settings

_COMMON: dict[str, Any] = {
    "deadline": None,
    "derandomize": False,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.filter_too_much],
    "database": None,
}
settings.register_profile("ci", max_examples=int(os.environ.get("KEEL_FUZZ_EXAMPLES", 250)), **_COMMON)
settings.register_profile("long", max_examples=int(os.environ.get("KEEL_FUZZ_EXAMPLES", 5000)), **_COMMON)
settings.load_profile(os.environ.get("KEEL_FUZZ_PROFILE", "ci"))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 pg_admin_url: str) -> Iterator[Any]:
    """A coordinator on each store with a real worker (tests.flows), shared by a module."""
    from tests.harness import Cluster

    tmp: Path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    database = None
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp / "keel.db")
    else:
        database = f"keel_test_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        url = urlunsplit(urlsplit(pg_admin_url)._replace(path="/" + database))
    cluster = Cluster(url, tmp, log_level="INFO")
    try:
        cluster.start_coordinator()
        cluster.start_worker()
        yield cluster
        log = cluster.coordinator.log() if cluster.coordinator else ""
        assert "bug in" not in log, log[-6000:]
    finally:
        cluster.close()
        if database is not None:
            with psycopg.connect(pg_admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
