"""The console in real headless Chromium (Debian's `chromium`, driven by
playwright-core from npm: tests/browser/console_check.js): find a workflow by
ID, see each step of its timeline and the select's winner, see an event
arrive live while it runs, cancel another workflow behind the confirmation.
It also takes the README's screenshot of the timeline (KEEL_UPDATE_SCREENSHOT=1
copies it to docs/console.png: `make screenshot`).

`make test` installs the browser and playwright-core when missing; with
CI=true a missing browser fails this test, never skips it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ROOT, free_port

BROWSER_DIR = ROOT / "tests" / "browser"
CHROMIUM = os.environ.get("KEEL_CHROMIUM", "/usr/bin/chromium")


def _browser_missing() -> str:
    if not Path(CHROMIUM).exists():
        return f"no browser at {CHROMIUM} (apt-get install chromium, or `make browser-deps`)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed in tests/browser (`make browser-deps`)"
    if shutil.which("node") is None:
        return "node is not installed"
    return ""


@pytest.fixture
def browser() -> None:
    missing = _browser_missing()
    if missing:  # `make test` installs both: a test that did not run proves nothing
        pytest.fail(f"the browser test cannot run: {missing}")


@pytest.mark.timeout(240)
def test_the_console_in_a_real_browser(browser: None, cluster_factory: Any, sqlite_url: str,
                                       tmp_path: Path) -> None:
    http = f"127.0.0.1:{free_port()}"
    cluster = cluster_factory(sqlite_url, http=http, **{"log-level": "INFO"})
    cluster.start_coordinator()
    cluster.start_worker("tests.flows_console", step_concurrency=8)
    client = cluster.client()
    suffix = uuid.uuid4().hex[:6]
    many = client.start_workflow("console_many", 300, workflow_id=f"many-{suffix}")
    assert many.result(timeout=60) == 300
    idle = client.start_workflow("console_idle", "never", workflow_id=f"idle-{suffix}")
    gate = f"approve-{suffix}"
    race = client.start_workflow("console_race", f"order-{suffix}", gate, workflow_id=f"order-{suffix}")
    shot = tmp_path / "console.png"
    env = {**os.environ, "KEEL_CONSOLE": f"http://{http}/", "RACE_ID": race.workflow_id,
           "IDLE_ID": idle.workflow_id, "GATE": gate, "MANY_ID": many.workflow_id,
           "MANY_ROWS": "330",  # 300 steps and 30 selects (events are marks)
           "SHOT": str(shot), "CHROMIUM": CHROMIUM}
    node = subprocess.Popen(["node", str(BROWSER_DIR / "console_check.js")], cwd=BROWSER_DIR, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out: list[str] = []
    try:
        assert node.stdout is not None
        for line in node.stdout:
            out.append(line)
            if line.startswith("WAITING "):
                cluster.open_gate(line.split()[1])
        node.wait(30)
    finally:
        if node.poll() is None:
            node.kill()
            node.wait(10)
    text = "".join(out)
    assert node.returncode == 0 and text.rstrip().endswith("OK"), f"the browser check failed:\n{text}"
    assert race.result(timeout=30)["carrier"] == "fast"
    assert idle.status() == "CANCELLED"
    assert shot.stat().st_size > 10_000
    if os.environ.get("KEEL_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, ROOT / "docs" / "console.png")
