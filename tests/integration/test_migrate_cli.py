"""`coordinator migrate`: --check tells the schema state and changes nothing."""

from __future__ import annotations

import subprocess
import sys

from tests.harness import ROOT


def migrate(url: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "coordinator", "migrate", "--db", url, *flags],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_migrate_check_then_migrate(store_url: str) -> None:
    before = migrate(store_url, "--check")
    assert before.returncode == 1, before.stderr
    assert "schema version 0" in before.stdout and "pending" in before.stdout
    assert migrate(store_url, "--check").returncode == 1  # the check changed nothing
    done = migrate(store_url)
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout
    after = migrate(store_url, "--check")
    assert after.returncode == 0 and "up to date" in after.stdout


def test_migrate_reports_an_unusable_url() -> None:
    result = migrate("mysql://nope")
    assert result.returncode == 2 and "unsupported store URL" in result.stderr
