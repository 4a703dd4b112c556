"""console: what the web console costs. Workflow throughput (N workflows of 3
no-op steps, 32 client threads, as wf_throughput) while a busy workflow (a
long run of sequential steps) runs beside them, on fresh clusters of the same
store:

- `plain`: the coordinator without --http;
- `console`: with --http, a browser (headless Chromium, tests/browser/watch.js)
  watching the busy workflow's live timeline, and /metrics scraped every second.

Without Chromium or playwright-core (`make browser-deps`), a Python reader of
the same live stream stands in for the browser (`watcher` says which).
`throughput_overhead_pct` > 0 means slower with the console (target: within 5 %).
Each side is measured `rounds` times, alternately; the best of each is kept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.cluster import cluster, start_worker
from bench.workloads import main
from bench.workloads.wf_throughput import batch
from tests.harness import ROOT, free_port

BROWSER_DIR = ROOT / "tests" / "browser"
CHROMIUM = os.environ.get("KEEL_CHROMIUM", "/usr/bin/chromium")
BUSY_STEPS = 1_000_000  # runs longer than any measurement; cancelled after


def browser_ready() -> bool:
    return (Path(CHROMIUM).exists() and shutil.which("node") is not None
            and (BROWSER_DIR / "node_modules" / "playwright-core").is_dir())


class Watcher:
    """A browser on the page (or a reader of its live stream) and a scraper of /metrics."""

    def __init__(self, base: str, workflow_id: str) -> None:
        self.stop = threading.Event()
        self.scrapes = 0
        self.browser: subprocess.Popen[str] | None = None
        self.threads = [threading.Thread(target=self._scrape, args=(base,), daemon=True)]
        if browser_ready():
            self.kind = "chromium"
            self.browser = subprocess.Popen(
                ["node", str(BROWSER_DIR / "watch.js")], cwd=BROWSER_DIR, text=True,
                env={**os.environ, "KEEL_PAGE": f"{base}#/workflow/{workflow_id}", "CHROMIUM": CHROMIUM},
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            assert self.browser.stdout is not None
            line = self.browser.stdout.readline()  # bounded by watch.js's own 30 s wait
            if line.strip() != "WATCHING":
                raise RuntimeError(f"the browser did not open the console: {line!r}")
        else:
            self.kind = "python-sse"
            self.threads.append(threading.Thread(
                target=self._read, args=(f"{base}api/workflows/{workflow_id}/live",), daemon=True))
        for t in self.threads:
            t.start()

    def _scrape(self, base: str) -> None:
        while not self.stop.wait(1.0):
            with urllib.request.urlopen(base + "metrics", timeout=10) as resp:
                resp.read()
            self.scrapes += 1

    def _read(self, url: str) -> None:
        with urllib.request.urlopen(url, timeout=60) as resp:
            while not self.stop.is_set() and resp.readline():
                pass

    def close(self) -> None:
        self.stop.set()
        if self.browser is not None:
            assert self.browser.stdin is not None
            self.browser.stdin.close()
            try:
                self.browser.wait(20)
            except subprocess.TimeoutExpired:
                self.browser.kill()


def measure(store: str, n: int, threads: int, console: bool) -> dict[str, Any]:
    http = f"127.0.0.1:{free_port()}"
    with cluster(store, "console", **({"http": http} if console else {})) as c:
        client = c.client()
        start_worker(c, client, concurrency=threads + 1)  # a slot for the busy workflow
        busy = client.start_workflow("bench_seq", BUSY_STEPS)
        watcher = Watcher(f"http://{http}/", busy.workflow_id) if console else None
        try:
            batch(client, min(100, n), threads)  # warm-up
            start, _, ends = batch(client, n, threads)
        finally:
            if watcher is not None:
                watcher.close()
            busy.cancel()
    figures: dict[str, Any] = {"wf_per_sec": round(n / (max(ends) - start), 1)}
    if watcher is not None:
        figures.update(watcher=watcher.kind, scrapes=watcher.scrapes)
    return figures


def run(store: str, quick: bool) -> dict[str, Any]:
    n, threads, rounds = (300, 32, 1) if quick else (1000, 32, 2)
    plain: list[dict[str, Any]] = []
    watched: list[dict[str, Any]] = []
    for _ in range(rounds):
        plain.append(measure(store, n, threads, console=False))
        time.sleep(1)  # let the last cluster's processes go
        watched.append(measure(store, n, threads, console=True))
        time.sleep(1)
    best_plain = max(plain, key=lambda r: r["wf_per_sec"])
    best_console = max(watched, key=lambda r: r["wf_per_sec"])
    overhead = best_plain["wf_per_sec"] / best_console["wf_per_sec"] - 1
    return {
        "n": n, "concurrency": threads, "rounds": rounds,
        "plain": best_plain, "console": best_console,
        "throughput_overhead_pct": round(overhead * 100, 1),
    }


if __name__ == "__main__":
    main("console", run)
