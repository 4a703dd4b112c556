"""secure: the cost of TLS and role tokens. The same two measurements, plaintext
and then with TLS plus --require-auth (every call carrying a token, every step
audited), on fresh clusters of the same store:

- per-step overhead: one workflow of N sequential no-op steps, median of `reps`
  (as seq_steps);
- workflow throughput: N workflows of 3 no-op steps, 32 client threads (as
  wf_throughput).

`*_overhead_pct` > 0 means slower with security on (target: within 10 %).
"""

from __future__ import annotations

import time
from typing import Any

from bench.cluster import cluster, start_worker
from bench.common import med
from bench.workloads import main
from bench.workloads.wf_throughput import batch


def measure(store: str, quick: bool, tls_and_tokens: bool) -> dict[str, float]:
    steps, reps = (50, 3) if quick else (200, 5)
    n, threads = (200, 32) if quick else (1000, 32)
    with cluster(store, "secure", tls_and_tokens=tls_and_tokens) as c:
        client = c.client()
        start_worker(c, client, concurrency=threads)

        def seq() -> float:
            t0 = time.perf_counter()
            assert client.start_workflow("bench_seq", steps).result(timeout=120) == steps
            return time.perf_counter() - t0

        seq()  # warm-up
        per_step = med([seq() for _ in range(reps)]) / steps
        batch(client, min(100, n), threads)  # warm-up
        start, _, ends = batch(client, n, threads)
    return {"per_step_ms": round(per_step * 1e3, 3), "wf_per_sec": round(n / (max(ends) - start), 1)}


def run(store: str, quick: bool) -> dict[str, Any]:
    plain = measure(store, quick, tls_and_tokens=False)
    secured = measure(store, quick, tls_and_tokens=True)
    return {
        "plain": plain, "tls_tokens": secured,
        "per_step_overhead_pct": round((secured["per_step_ms"] / plain["per_step_ms"] - 1) * 100, 1),
        "throughput_overhead_pct": round((plain["wf_per_sec"] / secured["wf_per_sec"] - 1) * 100, 1),
    }


if __name__ == "__main__":
    main("secure", run)
