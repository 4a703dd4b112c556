"""Figures and results: percentiles as the peer computes them, one JSON line per workload."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"


def stamp() -> str:
    """A file-name-safe local timestamp, e.g. 20250101-120000."""
    return time.strftime("%Y%m%d-%H%M%S")


def pct(xs: Sequence[float], q: float) -> float:
    """q-th percentile (0..100), nearest rank on sorted data: the peer's definition."""
    s = sorted(xs)
    if not s:
        raise ValueError("percentile of no data")
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * (len(s) - 1)))))
    return s[k]


def med(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def ms(seconds: float, digits: int = 2) -> float:
    return round(seconds * 1e3, digits)


def git_rev() -> str:
    """HEAD's short hash, with "+dirty" when the tree has changes (numbers move with them)."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def results_file(path: str | None) -> Path:
    """Where JSON lines go: `path`, else bench/results/<timestamp>.jsonl."""
    if path:
        return Path(path)
    return RESULTS_DIR / f"{stamp()}.jsonl"


def emit(record: dict[str, Any], out: Path) -> None:
    """Print the record as one JSON line and append it to `out`."""
    record.setdefault("ts", time.strftime("%Y-%m-%dT%H:%M:%S"))
    record.setdefault("git", git_rev())
    line = json.dumps(record)
    print(line, flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as f:
        f.write(line + "\n")


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of a live process from /proc/<pid>/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise ValueError(f"no {field} in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/<pid>/stat)."""
    # Fields after the command name (which may contain spaces) start at ")".
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")
