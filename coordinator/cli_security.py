"""The security side of the CLI: TLS and token flags (serve, admin verbs), the
admin verbs' channel, and `coordinator token create|list|revoke`, which work on
the store directly, so a fresh deployment bootstraps without a running server.

Secrets never reach --help, logs or listings: a token's secret is printed once,
alone on the last line of `token create`; store URLs are shown without passwords.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import sys
from collections.abc import Callable
from typing import Any

import grpc

from .core.clock import SystemClock
from .core.errors import CoordinatorError
from .core.records import Role, TokenRecord
from .core.tokens import Tokens, parse_duration_ms
from .settings import Settings, redact_url
from .store import StoreUnavailable, store_from_url

DEFAULTS = Settings()
_TRUE = {"1", "true", "yes", "on"}


def _env(name: str) -> str:
    return os.environ.get(name, "")


def add_serve_flags(s: argparse.ArgumentParser) -> None:
    s.add_argument("--tls-cert", default=_env("KEEL_TLS_CERT"), metavar="PEM",
                   help="serve TLS with this certificate (chain) file (env KEEL_TLS_CERT)")
    s.add_argument("--tls-key", default=_env("KEEL_TLS_KEY"), metavar="PEM",
                   help="the certificate's private key file (env KEEL_TLS_KEY)")
    s.add_argument("--tls-client-ca", default=_env("KEEL_TLS_CLIENT_CA"), metavar="PEM",
                   help="mutual TLS: refuse clients without a certificate signed by this CA "
                        "(env KEEL_TLS_CLIENT_CA)")
    s.add_argument("--require-auth", action="store_true",
                   default=_env("KEEL_REQUIRE_AUTH").lower() in _TRUE,
                   help="require a role token on every call (env KEEL_REQUIRE_AUTH=1); "
                        "make tokens with `coordinator token create`")
    s.add_argument("--max-workers", type=int, default=int(_env("KEEL_MAX_WORKERS") or DEFAULTS.max_workers),
                   help=f"open worker streams at most (env KEEL_MAX_WORKERS, default {DEFAULTS.max_workers})")
    s.add_argument("--max-watch-streams", type=int,
                   default=int(_env("KEEL_MAX_WATCH_STREAMS") or DEFAULTS.max_watch_streams),
                   help="open WatchEvents streams at most (env KEEL_MAX_WATCH_STREAMS, "
                        f"default {DEFAULTS.max_watch_streams})")


def add_client_flags(a: argparse.ArgumentParser) -> None:
    """--token and --tls-* of a caller (admin verbs); the SDK's `worker run` has the same."""
    a.add_argument("--token", default=_env("KEEL_TOKEN"), metavar="SECRET",
                   help="role token sent as 'authorization: Bearer' (env KEEL_TOKEN, preferred: "
                        "a command line is visible to other users)")
    a.add_argument("--tls-ca", default=_env("KEEL_TLS_CA"), metavar="PEM",
                   help="connect with TLS, trusting this CA (env KEEL_TLS_CA)")
    a.add_argument("--tls-cert", default=_env("KEEL_TLS_CERT"), metavar="PEM",
                   help="client certificate for mutual TLS (env KEEL_TLS_CERT)")
    a.add_argument("--tls-key", default=_env("KEEL_TLS_KEY"), metavar="PEM",
                   help="the client certificate's key (env KEEL_TLS_KEY)")


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <secret>` to every call."""

    def __init__(self, secret: str) -> None:
        self.entry = ("authorization", f"Bearer {secret}")

    def _details(self, details: Any) -> Any:
        return details._replace(metadata=[*(details.metadata or ()), self.entry])

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)


def admin_channel(args: argparse.Namespace) -> grpc.Channel:
    """A channel to args.address with the caller's TLS and token flags."""
    if args.tls_ca or args.tls_cert:
        def read(path: str) -> bytes | None:
            if not path:
                return None
            with open(path, "rb") as f:
                return f.read()
        creds = grpc.ssl_channel_credentials(read(args.tls_ca), read(args.tls_key), read(args.tls_cert))
        channel = grpc.secure_channel(args.address, creds)
    else:
        channel = grpc.insecure_channel(args.address)
    if args.token:
        channel = grpc.intercept_channel(channel, _Bearer(args.token))
    return channel


# -- coordinator token ... -------------------------------------------------------


def add_token_verbs(verbs: Any, db_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    t = verbs.add_parser("token", help="create, list and revoke role tokens (on the store; no server needed)")
    sub = t.add_subparsers(dest="token_verb", required=True)
    c = sub.add_parser("create", help="make a token and print its secret, once, on the last line")
    db_flag(c)
    c.add_argument("--role", required=True, choices=[r.value for r in Role])
    c.add_argument("--name", required=True, help="unique name, shown in listings and step audits")
    c.add_argument("--expires", help="lifetime, e.g. 12h, 30d, 2w (default: never)")
    ls = sub.add_parser("list", help="names, roles, created, expires, last used (never secrets)")
    db_flag(ls)
    r = sub.add_parser("revoke", help="refuse the token from now on (within a second)")
    db_flag(r)
    r.add_argument("name")


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _state(t: TokenRecord, now: int) -> str:
    if t.revoked_at is not None:
        return "revoked"
    return "active" if t.valid_at(now) else "expired"


async def _token(args: argparse.Namespace) -> int:
    store = store_from_url(args.db)
    await store.open()
    try:
        tokens = Tokens(store, SystemClock())
        if args.token_verb == "create":
            expires = parse_duration_ms(args.expires) if args.expires else None
            record, secret = await tokens.create(args.name, Role(args.role), expires)
            print(f"created token {record.name!r}: role {record.role.value}, expires "
                  f"{_when(record.expires_at) if expires else 'never'}.")
            print("Its secret follows, shown this once; only its hash is stored:")
            print(secret)
        elif args.token_verb == "list":
            now = SystemClock().now_ms()
            rows = [("NAME", "ROLE", "CREATED", "EXPIRES", "LAST USED", "STATE")]
            rows += [(t.name, t.role.value, _when(t.created_at), _when(t.expires_at),
                      _when(t.last_used_at), _state(t, now)) for t in await tokens.list()]
            widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
            for row in rows:
                print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        elif args.token_verb == "revoke":
            if not await tokens.revoke(args.name):
                print(f"coordinator: no active token named {args.name!r}", file=sys.stderr)
                return 1
            print(f"revoked token {args.name!r}; running coordinators refuse it within a second")
        return 0
    finally:
        await store.close()


def token_verb(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_token(args))
    except (StoreUnavailable, CoordinatorError, ValueError) as e:
        print(f"coordinator: {redact(str(e), args.db)}", file=sys.stderr)
        return 2


def redact(message: str, url: str) -> str:
    """`message` without the store URL's password, should a driver have quoted it."""
    return message.replace(url, redact_url(url))
