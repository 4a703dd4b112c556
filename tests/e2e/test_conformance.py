"""The conformance kit (conformance/, docs/conformance.md) on both stores: the
Python SDK's worker and the Node example worker pass it; a worker that ignores
fencing fails it, with a table that says which scenarios and why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_node import NODE_DIR, node  # noqa: F401  (the fixture: npm ci once)
from tests.harness import ROOT

PYTHON_WORKER = f"{sys.executable} -m worker run conformance.python_worker --coordinator {{coordinator}}"
NODE_WORKER = (f"node {NODE_DIR / 'worker.js'} --coordinator {{coordinator}} "
               f"--steps {NODE_DIR / 'conformance_steps.js'}")
BROKEN_WORKER = (f"{sys.executable} -m worker run tests.flows_conformance_broken "
                 "--coordinator {coordinator}")


def kit(worker: str, store_url: str, workdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", "--worker", worker, "--store", store_url,
         "--workdir", str(workdir), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_the_python_sdk_worker_passes(store_url: str, tmp_path: Path) -> None:
    done = kit(PYTHON_WORKER, store_url, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "conformance: 13 passed, 0 failed" in done.stdout, done.stdout


def test_the_node_worker_passes(store_url: str, tmp_path: Path, node: str) -> None:  # noqa: F811
    done = kit(NODE_WORKER, store_url, tmp_path, "--serves", "steps")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "conformance: 9 passed, 0 failed, 4 skipped" in done.stdout, done.stdout


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_worker_that_ignores_fencing_fails_with_a_clear_table(store_url: str, tmp_path: Path) -> None:
    done = kit(BROKEN_WORKER, store_url, tmp_path, "--only", "JSON", "--only", "SIGKILL",
               "--only", "timeouts")
    assert done.returncode == 1, done.stdout + done.stderr
    rows = {line.split("  ")[0].strip(): line for line in done.stdout.splitlines()}
    assert "PASS" in rows["steps by name, JSON payloads"]
    for name in ("SIGKILL mid-step, spare", "timeouts and retries"):
        assert "FAIL" in rows[name] and "StepTimeout" in rows[name], done.stdout
    assert "conformance: 1 passed, 2 failed" in done.stdout
