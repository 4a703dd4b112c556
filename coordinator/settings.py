"""The coordinator's settings, parsed once from flags and environment."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Settings:
    listen: str = "127.0.0.1:50051"
    db_url: str = "sqlite:///coordinator.db"
    # Names this coordinator's store leases. Stable across restarts of the same
    # node (host and port), so a restarted coordinator takes its leases back at once.
    node_id: str = ""
    heartbeat_interval: float = 1.0
    worker_timeout: float = 5.0
    lease_ttl: float = 30.0
    node_timeout: float = 3.0
    # Default timeout of a dispatched step attempt (ScheduleStep without one).
    step_timeout: float = 300.0
    poll_interval: float = 1.0
    grace: float = 10.0
    # Every answer must fit one message whatever was stored: a workflow's input
    # and its output (or error) are each at most max_payload_bytes, so two of
    # them and the rest of the record (MESSAGE_RESERVE) fit max_message_bytes.
    MESSAGE_RESERVE: ClassVar[int] = 64 * 1024
    max_message_bytes: int = 4 * 1024 * 1024
    max_payload_bytes: int = (4 * 1024 * 1024 - 64 * 1024) // 2  # 2016 KiB
    # Security (docs/security.md): TLS when a certificate and key are given,
    # mutual TLS with a client CA; role tokens on every call with require_auth.
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    require_auth: bool = False
    # Open worker streams and WatchEvents streams beyond these: RESOURCE_EXHAUSTED.
    max_workers: int = 1000
    max_watch_streams: int = 1000
    # Finished workflows older than this many seconds are deleted (--retention); None keeps them.
    retention: float | None = None
    # The console, /metrics, /healthz and /readyz on HOST:PORT (coordinator/http);
    # off when empty. With require_auth the console needs an admin token, and
    # /metrics too unless metrics_open.
    http: str = ""
    metrics_open: bool = False

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert or self.tls_key)

    def check_limits(self) -> None:
        """ValueError unless two payloads and the reserve fit one message."""
        if 2 * self.max_payload_bytes + self.MESSAGE_RESERVE > self.max_message_bytes:
            raise ValueError(
                f"max payload bytes ({self.max_payload_bytes}) must be at most half of max message "
                f"bytes ({self.max_message_bytes}) minus {self.MESSAGE_RESERVE // 2}: a workflow's "
                "input and output are answered in one message")

    def resolved_node_id(self) -> str:
        return self.node_id or f"{socket.gethostname()}:{self.listen.rsplit(':', 1)[-1]}"


_PASSWORD_RE = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """A store URL fit for logs, errors and --help: no password."""
    url = _PASSWORD_RE.sub(r"\1***", url)
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    userinfo, _, host = rest.partition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in userinfo else ''}@{host}"
