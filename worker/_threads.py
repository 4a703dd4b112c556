"""Threads that run workflow executions, reused.

A thread started per execution cost ~70 µs of CPU, and the stream's reader,
which starts it, waited for it to start before reading the next reply. A
thread that finished an execution waits a while for the next one instead;
one idle for IDLE_S ends. Daemon threads, as before: a workflow blocked in
user code never holds the process open at exit.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

IDLE_S = 60.0


class Runners:
    def __init__(self, name: str, idle_s: float = IDLE_S) -> None:
        self._name = name
        self._idle_s = idle_s
        self._jobs: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], str]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a job that no submitted job counts on yet
        self._started = 0

    def submit(self, fn: Callable[..., Any], *args: Any, name: str) -> None:
        """Run fn(*args) on an idle thread (a new one if none), named `name` meanwhile."""
        with self._lock:
            spawn = self._idle == 0
            if spawn:
                self._started += 1
            else:
                self._idle -= 1
        self._jobs.put((fn, args, name))
        if spawn:
            threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _serve(self) -> None:
        me = threading.current_thread()
        while True:
            try:
                fn, args, name = self._jobs.get(timeout=self._idle_s)
            except queue.Empty:
                with self._lock:
                    # Leave only if no job submitted counts on this thread.
                    if self._idle > 0:
                        self._idle -= 1
                        self._started -= 1
                        return
                continue
            me.name = name
            try:
                fn(*args)
            except Exception:
                log.exception("%s failed", name)  # as an uncaught error in its own thread would
            me.name = f"{self._name}-idle"
            with self._lock:
                self._idle += 1

    @property
    def idle(self) -> int:
        """Threads waiting for a job that no submitted job counts on yet."""
        return self._idle

    @property
    def threads(self) -> int:
        """Threads alive, running or idle."""
        return self._started
