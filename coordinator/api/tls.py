"""Server TLS credentials from PEM files, re-read when the files change.

`--tls-cert`/`--tls-key` turn TLS on; `--tls-client-ca` makes it mutual: a
client must present a certificate signed by that CA, or the handshake fails.
The files are looked at (a stat) on each new connection and loaded again when
one changed, so certificates are rotated by replacing the files: new
connections get the new ones, open ones keep theirs (docs/security.md).
"""

from __future__ import annotations

import logging
import os
import threading

import grpc

from ..settings import Settings

log = logging.getLogger(__name__)


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ValueError(f"cannot read the {what} {path!r}: {e.strerror}") from None


class _Files:
    """The PEM files of the server, and their state when last loaded."""

    def __init__(self, settings: Settings) -> None:
        if not (settings.tls_cert and settings.tls_key):
            raise ValueError("TLS needs both --tls-cert and --tls-key")
        self.paths = {"certificate": settings.tls_cert, "key": settings.tls_key}
        if settings.tls_client_ca:
            self.paths["client CA"] = settings.tls_client_ca
        self.lock = threading.Lock()
        self.stamps = self._stamps()
        self.config = self._load()

    def _stamps(self) -> tuple[tuple[int, int], ...]:
        out = []
        for path in self.paths.values():
            try:
                st = os.stat(path)
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((0, 0))
        return tuple(out)

    def _load(self) -> grpc.ServerCertificateConfiguration:
        pems = {what: _read(path, what) for what, path in self.paths.items()}
        return grpc.ssl_server_certificate_configuration(
            [(pems["key"], pems["certificate"])], root_certificates=pems.get("client CA"))

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by gRPC on each handshake: a new configuration, or None for no change."""
        with self.lock:
            stamps = self._stamps()
            if stamps == self.stamps:
                return None
            try:
                config = self._load()
            except ValueError as e:  # half-written files: keep serving the old ones
                log.warning("TLS files changed but cannot be loaded yet: %s", e)
                return None
            self.stamps = stamps
            log.info("TLS files changed: new connections use the new certificates")
            return config


def server_credentials(settings: Settings) -> grpc.ServerCredentials:
    """TLS (mutual with a client CA) from the settings' PEM files; ValueError if unreadable."""
    files = _Files(settings)
    return grpc.dynamic_ssl_server_credentials(
        files.config, files.fetch, require_client_authentication=bool(settings.tls_client_ca))
