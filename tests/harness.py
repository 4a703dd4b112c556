"""Real processes for integration tests: a coordinator on a free port, workers.

Everything waits with a bounded timeout and fails with a message that names
what it waited for, and the processes' logs are kept in the test's tmp_path.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0, every: float = 0.02) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


class Proc:
    """A child process whose output goes to a log file."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.args = args
        self.log_path = log
        self._log = open(log, "ab")
        self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL, then reap."""
        self.signal(signal.SIGKILL)
        self.popen.wait(10)

    def terminate(self, timeout: float = 20.0) -> int:
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.args[2:4]} did not exit within {timeout} s of SIGTERM") from None

    def close(self) -> None:
        if self.alive():
            self.kill()
        self._log.close()


class Cluster:
    """One coordinator (restartable on the same port and store) and its workers."""

    def __init__(self, store_url: str, tmp: Path, *, log_level: str = "DEBUG",
                 **coordinator_flags: Any) -> None:
        self.store_url = store_url
        self.tmp = tmp
        # --log-level of the coordinator and the workers. Above INFO, workers do
        # not log " connected to ": start them with wait=False and check otherwise.
        self.log_level = log_level
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.flags = {"worker-timeout": 3.0, "grace": 3.0, **coordinator_flags}
        self.env = {**os.environ, "KEEL_TEST_DIR": str(tmp), "PYTHONUNBUFFERED": "1"}
        self.coordinator: Proc | None = None
        # Keyword arguments of Client for a coordinator with TLS or tokens
        # (token=, tls_ca=); the health check uses tls_ca too.
        self.security: dict[str, str] = {}
        self.workers: list[Proc] = []
        self.peers: list[Proc] = []  # more coordinators on the same store
        self._clients: list[Any] = []
        self._n = 0

    def _serve_args(self, address: str, flags: dict[str, Any]) -> list[str]:
        args = [sys.executable, "-m", "coordinator", "serve", "--listen", address,
                "--db", self.store_url, "--log-level", self.log_level]
        for k, v in flags.items():
            args += [f"--{k}", str(v)]
        return args

    def start_coordinator(self) -> Proc:
        self._n += 1
        self.coordinator = Proc(self._serve_args(self.address, self.flags),
                                self.tmp / f"coordinator-{self._n}.log", self.env)
        self.wait_serving()
        return self.coordinator

    def start_peer(self, address: str | None = None, **flags: Any) -> tuple[Proc, str]:
        """Another coordinator on the same store (on a free port unless given):
        for tests of several coordinators. Returns it and its address."""
        address = address or f"127.0.0.1:{free_port()}"
        self._n += 1
        proc = Proc(self._serve_args(address, {**self.flags, **flags}),
                    self.tmp / f"coordinator-{self._n}.log", self.env)
        self.peers.append(proc)
        self.wait_serving(proc=proc, address=address)
        return proc, address

    def wait_serving(self, timeout: float = 20.0, proc: Proc | None = None,
                     address: str | None = None) -> None:
        address = address or self.address

        def serving() -> bool:
            coordinator = proc or self.coordinator
            assert coordinator is not None and coordinator.alive(), (
                f"coordinator exited:\n{coordinator.log() if coordinator else ''}")
            try:
                ca = self.security.get("tls_ca")
                with (grpc.secure_channel(address, grpc.ssl_channel_credentials(Path(ca).read_bytes()))
                      if ca else grpc.insecure_channel(address)) as ch:
                    resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=1)
                    return resp.status == health_pb2.HealthCheckResponse.SERVING
            except grpc.RpcError:
                return False
        wait_for(serving, f"coordinator on {address} to serve", timeout, every=0.05)

    def start_worker(self, *modules: str, concurrency: int = 4, step_concurrency: int = 8,
                     wait: bool = True, extra: list[str] | None = None,
                     coordinator: str | None = None) -> Proc:
        args = [sys.executable, "-m", "worker", "run", *(modules or ("tests.flows",)),
                "--coordinator", coordinator or self.address, "--concurrency", str(concurrency),
                "--step-concurrency", str(step_concurrency), "--log-level", self.log_level,
                *(extra or [])]
        self._n += 1
        proc = Proc(args, self.tmp / f"worker-{self._n}.log", self.env)
        self.workers.append(proc)
        if wait:
            self.wait_connected(proc)
        return proc

    def wait_connected(self, proc: Proc, times: int = 1, timeout: float = 20.0) -> None:
        def connected() -> bool:
            assert proc.alive(), f"worker exited:\n{proc.log()}"
            return proc.log().count(" connected to ") >= times
        wait_for(connected, f"worker {proc.pid} to connect ({times}x)", timeout)

    def client(self, address: str | None = None) -> Any:
        from worker import Client

        c = Client(address or self.address, **self.security)
        self._clients.append(c)
        return c

    # -- traces left by tests/flows.py -------------------------------------

    def runs(self, name: str) -> list[int]:
        """PIDs of the processes that ran the traced step `name`, in order."""
        path = self.tmp / "runs" / name
        if not path.exists():
            return []
        return [int(line.split()[0]) for line in path.read_text().splitlines()]

    def runs_prefix(self, prefix: str) -> dict[str, list[int]]:
        """The runs of every traced step whose name starts with `prefix`."""
        folder = self.tmp / "runs"
        names = [p.name for p in folder.iterdir() if p.name.startswith(prefix)] if folder.exists() else []
        return {name: self.runs(name) for name in names}

    def run_times(self, name: str) -> list[float]:
        path = self.tmp / "runs" / name
        return [float(line.split()[1]) for line in path.read_text().splitlines()]

    def open_gate(self, name: str) -> None:
        (self.tmp / "gates").mkdir(exist_ok=True)
        (self.tmp / "gates" / name).touch()

    def wait_runs(self, name: str, count: int = 1, timeout: float = 20.0) -> list[int]:
        return wait_for(lambda: len(self.runs(name)) >= count and self.runs(name),
                        f"step {name} to have run {count}x", timeout)

    def worker_by_pid(self, pid: int) -> Proc:
        return next(w for w in self.workers if w.pid == pid)

    def logs(self) -> str:
        procs = ([self.coordinator] if self.coordinator else []) + self.peers + self.workers
        return "\n".join(f"--- {p.log_path.name}\n{p.log()[-6000:]}" for p in procs)

    def close(self) -> None:
        for c in self._clients:
            c.close()
        for w in self.workers:
            w.close()
        for p in self.peers:
            p.close()
        if self.coordinator is not None:
            self.coordinator.close()
