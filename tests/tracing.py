"""Traces that test steps leave in KEEL_TEST_DIR, readable across processes."""

from __future__ import annotations

import os
import time
from pathlib import Path


def trace_dir() -> Path:
    return Path(os.environ["KEEL_TEST_DIR"])


def trace(name: str) -> None:
    runs = trace_dir() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    with open(runs / name, "a") as f:
        f.write(f"{os.getpid()} {time.time():.3f}\n")


def wait_gate(name: str, limit: float = 60.0) -> None:
    gate = trace_dir() / "gates" / name
    deadline = time.monotonic() + limit
    while not gate.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {name} never opened")
        time.sleep(0.02)
