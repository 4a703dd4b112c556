"""The worker's reused execution threads: a job runs on an idle thread when
there is one, on a new one when not, named for it meanwhile; a failing job
leaves its thread serving; idle threads end."""

from __future__ import annotations

import threading
import time

from worker._threads import Runners


def test_an_idle_thread_takes_the_next_job_under_the_jobs_name() -> None:
    runners = Runners("t")
    seen: list[tuple[int, str]] = []
    for i in range(5):
        done = threading.Event()

        def job(i: int = i, done: threading.Event = done) -> None:
            me = threading.current_thread()
            seen.append((me.ident or 0, me.name))
            done.set()

        runners.submit(job, name=f"job-{i}")
        assert done.wait(5), f"job {i} did not run"
        deadline = time.monotonic() + 5
        while runners.idle == 0 and time.monotonic() < deadline:  # back to idle
            time.sleep(0.001)
    assert [name for _, name in seen] == [f"job-{i}" for i in range(5)]
    assert len({ident for ident, _ in seen}) == 1 and runners.threads == 1


def test_jobs_at_once_get_threads_of_their_own() -> None:
    runners = Runners("t")
    release = threading.Event()
    started = threading.Semaphore(0)

    def job() -> None:
        started.release()
        release.wait(5)

    for i in range(4):
        runners.submit(job, name=f"job-{i}")
    for _ in range(4):
        assert started.acquire(timeout=5), "a job waited for another to end"
    assert runners.threads == 4
    release.set()


def test_a_failing_job_leaves_its_thread_serving() -> None:
    runners = Runners("t")
    ran = threading.Event()

    def fails() -> None:
        raise RuntimeError("boom")

    runners.submit(fails, name="bad")
    deadline = time.monotonic() + 5
    while runners.idle == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    runners.submit(ran.set, name="good")
    assert ran.wait(5)
    assert runners.threads == 1


def test_idle_threads_end_and_a_job_after_them_still_runs() -> None:
    runners = Runners("t", idle_s=0.05)
    for _ in range(3):
        ran = threading.Event()
        runners.submit(ran.set, name="job")
        assert ran.wait(5)
    deadline = time.monotonic() + 5
    while runners.threads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runners.threads == 0
    ran = threading.Event()
    runners.submit(ran.set, name="job")
    assert ran.wait(5)
