"""A coordinator served in this process, on a thread of its own, for tests that
look inside it (its log records, its settings) or need TLS and tokens."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from coordinator.server import serve
from coordinator.settings import Settings
from tests.harness import free_port


@contextmanager
def running(db_url: str, **settings: Any) -> Iterator[Settings]:
    """Serve `Settings(listen=<free port>, db_url, **settings)` until the block ends."""
    config = dataclasses.replace(Settings(), listen=f"127.0.0.1:{free_port()}", db_url=db_url,
                                 grace=1.0, worker_timeout=3.0, **settings)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failed: list[BaseException] = []

    def main() -> None:
        try:
            loop.run_until_complete(serve(config, stop))
        except BaseException as e:  # reported below
            failed.append(e)
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="coordinator", daemon=True)
    thread.start()
    host, port = config.listen.rsplit(":", 1)
    deadline = time.monotonic() + 20
    while True:
        assert not failed, f"coordinator failed to start: {failed[0]!r}"
        try:
            socket.create_connection((host, int(port)), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "coordinator did not listen within 20 s"
            time.sleep(0.02)
    try:
        yield config
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
