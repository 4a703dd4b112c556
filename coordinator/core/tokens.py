"""Role tokens: issuing them (create, list, revoke) and checking a caller's secret.

A secret is random, shown once when the token is created, and stored only as
its SHA-256 hash (secrets are 256 random bits, so a fast hash is enough: there
is nothing to guess). Checks read the store through a small cache whose
entries live `CACHE_TTL` seconds, so a token revoked in the store (by any
coordinator, or by `coordinator token revoke` with no server at all) is refused
everywhere within that time; expiry is checked on every call.

The API layer says who is calling by setting `CALLER` for the duration of a
call; the core reads it only to stamp the steps a worker records (audit).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
import secrets
import time
from contextvars import ContextVar

from .clock import Clock
from .errors import InvalidArgument, Unauthenticated
from .ports import Store
from .records import NewStep, Role, TokenRecord

log = logging.getLogger(__name__)

# The token of the call being served, set by the API's auth interceptor.
CALLER: ContextVar[TokenRecord | None] = ContextVar("keel_caller", default=None)

SECRET_PREFIX = "keel_"
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-/@]{0,199}")
_DURATION_RE = re.compile(r"(\d+)([smhdw]?)")
_UNIT_MS = {"": 1000, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_duration_ms(text: str) -> int:
    """'90s', '15m', '12h', '30d', '2w' (a bare number is seconds) in milliseconds."""
    m = _DURATION_RE.fullmatch(text.strip())
    if not m or int(m.group(1)) <= 0:
        raise InvalidArgument(f"invalid duration {text[:40]!r}: use a positive number with s, m, h, d or w")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def stamp(step: NewStep, worker_id: str = "") -> NewStep:
    """The step with the caller's token name, for the audit trail (and the
    `worker_id` that ran it, when given)."""
    caller = CALLER.get()
    token = step.worker_token if caller is None else caller.name
    if token == step.worker_token and not worker_id:
        return step
    return dataclasses.replace(step, worker_token=token, worker_id=worker_id or step.worker_id)


class Tokens:
    """Issues and checks tokens over the store."""

    CACHE_TTL = 0.5  # seconds: a revocation takes effect within this
    TOUCH_EVERY_MS = 60_000  # last_used_at is written at most this often per token
    MAX_CACHED = 10_000

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._cache: dict[str, tuple[TokenRecord | None, float]] = {}
        self._fetching: dict[str, asyncio.Future[TokenRecord | None]] = {}
        self._touched: dict[str, int] = {}
        self._background: set[asyncio.Task[None]] = set()

    # -- issuing ------------------------------------------------------------------

    async def create(
        self, name: str, role: Role, expires_in_ms: int | None = None
    ) -> tuple[TokenRecord, str]:
        """A new token and its secret (the only time the secret exists outside the caller)."""
        if not NAME_RE.fullmatch(name):
            raise InvalidArgument(
                f"invalid token name {name[:80]!r}: use letters, digits and '_.:-/@', starting with "
                "a letter or '_', at most 200 characters")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        now = self.clock.now_ms()
        record = TokenRecord(name=name, role=role, secret_hash=hash_secret(secret), created_at=now,
                             expires_at=now + expires_in_ms if expires_in_ms else None)
        if not await self.store.create_token(record):
            raise InvalidArgument(f"a token named {name!r} exists already (names are never reused)")
        return record, secret

    async def list(self) -> list[TokenRecord]:
        return await self.store.list_tokens()

    async def revoke(self, name: str) -> bool:
        revoked = await self.store.revoke_token(name, self.clock.now_ms())
        self._cache.clear()
        return revoked

    # -- checking -----------------------------------------------------------------

    async def authenticate(self, secret: str) -> TokenRecord:
        """The valid token with this secret; Unauthenticated otherwise (saying
        why only in the coordinator's terms, never echoing the secret)."""
        if not secret:
            raise Unauthenticated("missing token: send 'authorization: Bearer <token>' metadata")
        digest = hash_secret(secret)
        record = await self._lookup(digest)
        now = self.clock.now_ms()
        if record is None:
            raise Unauthenticated("unknown token")
        if record.revoked_at is not None:
            raise Unauthenticated(f"token {record.name!r} was revoked")
        if not record.valid_at(now):
            raise Unauthenticated(f"token {record.name!r} expired")
        self._touch(record, now)
        return record

    async def still_valid(self, record: TokenRecord) -> bool:
        """Whether a token checked earlier (a long stream's) is still valid now."""
        current = await self._lookup(record.secret_hash)
        return current is not None and current.valid_at(self.clock.now_ms())

    async def _lookup(self, digest: str) -> TokenRecord | None:
        cached = self._cache.get(digest)
        if cached is not None and time.monotonic() - cached[1] < self.CACHE_TTL:
            return cached[0]
        pending = self._fetching.get(digest)
        if pending is not None:  # one store read per token however many calls wait
            return await asyncio.shield(pending)
        future: asyncio.Future[TokenRecord | None] = asyncio.get_running_loop().create_future()
        self._fetching[digest] = future
        try:
            record = await self.store.find_token(digest)
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: waiters get it, nobody else must
            raise
        else:
            future.set_result(record)
        finally:
            del self._fetching[digest]
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        self._cache[digest] = (record, time.monotonic())
        return record

    def _touch(self, record: TokenRecord, now: int) -> None:
        if now - self._touched.get(record.name, 0) < self.TOUCH_EVERY_MS:
            return
        self._touched[record.name] = now
        task = asyncio.get_running_loop().create_task(self._write_touch(record.name, now))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _write_touch(self, name: str, now: int) -> None:
        try:
            await self.store.touch_token(name, now)
        except Exception as e:  # best effort: it is only a "last used" note
            log.warning("could not note the use of token %r: %s", name, e)
