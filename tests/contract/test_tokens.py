"""The Store contract on role tokens (create, find, list, revoke, touch) and the
audit column of steps (worker_token)."""

from __future__ import annotations

import dataclasses

from coordinator.core.records import Role, TokenRecord
from coordinator.store import RecordResult, Store

from .support import claimed, run, step


def token(name: str, role: Role = Role.WORKER, **kw: object) -> TokenRecord:
    return TokenRecord(name=name, role=role, secret_hash=f"hash-of-{name}", created_at=1000, **kw)  # type: ignore[arg-type]


def test_create_find_list(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        w = token("w1", expires_at=5000)
        c = token("c1", Role.CLIENT)
        assert await s.create_token(w) and await s.create_token(c)
        assert await s.find_token("hash-of-w1") == w
        assert await s.find_token("nothing") is None
        assert await s.list_tokens() == [c, w]  # by name
        # Names are unique, revoked or not; so are hashes.
        assert not await s.create_token(token("w1", Role.ADMIN))
        assert not await s.create_token(dataclasses.replace(c, name="c2"))
        assert await s.list_tokens() == [c, w]

    run(any_store_url, body)


def test_revoke_and_touch(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        await s.create_token(token("w1"))
        assert await s.revoke_token("w1", 2000)
        assert not await s.revoke_token("w1", 3000)  # once
        assert not await s.revoke_token("nobody", 3000)
        found = await s.find_token("hash-of-w1")
        assert found is not None and found.revoked_at == 2000 and not found.valid_at(2500)
        await s.touch_token("w1", 4000)
        await s.touch_token("w1", 3500)  # never backwards
        await s.touch_token("nobody", 3500)
        (listed,) = await s.list_tokens()
        assert listed.last_used_at == 4000 and listed.revoked_at == 2000

    run(any_store_url, body)


def test_steps_keep_the_worker_token(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        result, rec = await s.record_step(step("w1", epoch, 0, worker_token="worker-a"))
        assert result is RecordResult.RECORDED and rec is not None and rec.worker_token == "worker-a"
        _, plain = await s.record_step(step("w1", epoch, 1))
        assert plain is not None and plain.worker_token == ""
        assert [r.worker_token for r in await s.list_steps("w1")] == ["worker-a", ""]
        assert await s.get_step("w1", 0) == rec

    run(any_store_url, body)
