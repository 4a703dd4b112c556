"""The processes of a conformance run: one coordinator (restartable on the
same port and store), the worker under test twice (a worker and its spare),
and the kit's driver worker; plus the client the scenarios drive them with."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The coordinator the kit runs: step attempts bounded, and a small payload
# limit so a refused output is cheap. A killed worker's stream ends at once;
# the worker timeout only covers silent ones, and is generous so that a loaded
# machine does not presume a live worker dead (which re-dispatches its steps).
STEP_TIMEOUT = 8.0
MAX_PAYLOAD = 64 * 1024
COORDINATOR_FLAGS = {
    "heartbeat-interval": 0.5, "worker-timeout": 5.0, "step-timeout": STEP_TIMEOUT,
    "max-payload-bytes": MAX_PAYLOAD, "grace": 1.0,
}


class Failed(Exception):
    """A scenario's expectation was not met; the message says what was seen."""


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    def __init__(self, args: list[str], log: Path, env: dict[str, str], what: str) -> None:
        self.what = what
        self.log_path = log
        self._log = open(log, "ab")
        self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)  # the command may be a shell: its children too
            self.popen.wait(10)

    def stop(self) -> None:
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()
        self._log.close()


class Kit:
    def __init__(self, worker_command: str, workdir: Path, store: str) -> None:
        self.command = worker_command
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.store = store if store != "sqlite" else f"sqlite:///{workdir / 'keel.db'}"
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, "KEEL_COORDINATOR": self.address,
                    "KEEL_CONFORMANCE_DIR": str(workdir), "PYTHONUNBUFFERED": "1"}
        self.coordinator: Proc | None = None
        self.workers: list[Proc] = []  # the worker under test, and its spare
        self.driver: Proc | None = None
        self._n = 0
        self._client: Any = None

    # -- processes -----------------------------------------------------------

    def _log(self, name: str) -> Path:
        self._n += 1
        return self.workdir / f"{self._n:02d}-{name}.log"

    def registrations(self) -> int:
        if self.coordinator is None:
            return 0
        return self.coordinator.log_path.read_text(errors="replace").count(" registered: ")

    def start_coordinator(self) -> None:
        args = [sys.executable, "-m", "coordinator", "serve", "--listen", self.address,
                "--db", self.store, "--log-level", "INFO"]
        for flag, value in COORDINATOR_FLAGS.items():
            args += [f"--{flag}", str(value)]
        self.coordinator = Proc(args, self._log("coordinator"), self.env, "coordinator")
        wait_for(self._serving, "the coordinator to serve", 30)

    def _serving(self) -> bool:
        assert self.coordinator is not None
        if not self.coordinator.alive():
            raise Failed(f"the coordinator exited; see {self.coordinator.log_path}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def restart_coordinator(self) -> None:
        """SIGKILL the coordinator and start it again on the same port and store."""
        assert self.coordinator is not None
        self.coordinator.kill()
        self.start_coordinator()

    def start_worker(self) -> Proc:
        """The worker under test (its command, with {coordinator} filled in)."""
        before = self.registrations()
        args = shlex.split(self.command.replace("{coordinator}", self.address))
        proc = Proc(args, self._log("worker"), self.env, "worker under test")
        self.workers.append(proc)
        wait_for(lambda: self.registrations() > before or (not proc.alive() and self._died(proc)),
                 "the worker under test to register", 30)
        return proc

    def _died(self, proc: Proc) -> bool:
        raise Failed(f"the worker under test exited ({proc.popen.returncode}); see {proc.log_path}")

    def start_driver(self) -> None:
        before = self.registrations()
        args = [sys.executable, "-m", "worker", "run", "conformance.driver", "--coordinator",
                self.address, "--concurrency", "32", "--step-concurrency", "1", "--park-after", "1"]
        self.driver = Proc(args, self._log("driver"), self.env, "driver")
        wait_for(lambda: self.registrations() > before, "the kit's driver worker to register", 30)

    def worker_by_pid(self, pid: int) -> Proc:
        for proc in self.workers:
            if proc.pid == pid or _is_child(pid, proc.pid):
                return proc
        raise Failed(f"pid {pid} is none of the workers under test")

    def replace(self, proc: Proc) -> None:
        """A killed worker under test is started again, for the next scenarios."""
        proc.kill()
        self.workers.remove(proc)
        self.start_worker()

    def live_workers(self) -> list[Proc]:
        return [w for w in self.workers if w.alive()]

    # -- the client and traces ----------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            from worker import Client
            self._client = Client(self.address)
        return self._client

    def marks(self, label: str) -> list[int]:
        path = self.workdir / "marks" / label
        return [int(line) for line in path.read_text().split()] if path.exists() else []

    def wait_mark(self, label: str, count: int = 1, timeout: float = 30.0) -> list[int]:
        return wait_for(lambda: len(self.marks(label)) >= count and self.marks(label),
                        f"conf_mark({label!r}) to run {count}x", timeout)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        for proc in [*self.workers, *([self.driver] if self.driver else [])]:
            proc.stop()
        if self.coordinator is not None:
            self.coordinator.stop()


def _is_child(pid: int, parent: int) -> bool:
    """Whether `pid` descends from `parent` (a worker command run through a shell)."""
    try:
        while pid > 1:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
            if pid == parent:
                return True
    except (OSError, ValueError, IndexError):
        pass
    return False
