"""The coordinator's settings, parsed once from flags and environment."""

from __future__ import annotations

import socket
from dataclasses import dataclass


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
    poll_interval: float = 1.0
    grace: float = 10.0
    max_message_bytes: int = 4 * 1024 * 1024
    max_payload_bytes: int = 2 * 1024 * 1024

    def resolved_node_id(self) -> str:
        return self.node_id or f"{socket.gethostname()}:{self.listen.rsplit(':', 1)[-1]}"
