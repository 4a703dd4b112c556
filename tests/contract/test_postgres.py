"""What only PostgreSQL promises: several stores on one database,
LISTEN/NOTIFY; and that listen is harmless where there is nothing to hear.
Lost connections and the pool: test_postgres_pool.py."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from coordinator.store import (
    Note,
    RecordResult,
    Store,
    Value,
    Wait,
    WaitKind,
    WorkflowStatus,
    event_wait_key,
    store_from_url,
)

from .support import claimable, claimed, msg, ok, run, set_event, step, wait_note, wf


def test_pg_concurrent_claims_never_overlap(pg_url: str) -> None:
    async def main() -> None:
        stores = [store_from_url(pg_url) for _ in range(2)]
        await asyncio.gather(*(s.open() for s in stores))
        try:
            for i in range(50):
                await stores[0].create_workflow(wf(f"w{i:02}", created_at=i))

            async def drain(s: Store, owner: str) -> list[str]:
                taken: list[str] = []
                while batch := await s.claim_workflows(owner, ["wf"], 3, 100, 10_000):
                    taken += [w.workflow_id for w in batch]
                    await asyncio.sleep(0)
                return taken

            owners = ["node-a", "node-b", "node-c", "node-d"]
            taken = await asyncio.gather(
                *(drain(stores[i % 2], owner) for i, owner in enumerate(owners)))
            flat = [wid for ids in taken for wid in ids]
            assert sorted(flat) == [f"w{i:02}" for i in range(50)]  # each exactly once
            everything = await stores[0].list_workflows(None, None, 100)
            assert all(w.epoch == 1 for w in everything)
            owner_of = {wid: owner for owner, ids in zip(owners, taken, strict=False) for wid in ids}
            assert all(w.owner == owner_of[w.workflow_id] for w in everything)
        finally:
            await asyncio.gather(*(s.close() for s in stores))

    asyncio.run(main())


def test_pg_concurrent_record_step_is_serialised(pg_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        # 40 distinct step numbers, each submitted twice at once.
        results = await asyncio.gather(
            *(s.record_step(step("w1", epoch, n % 40, ok(str(n).encode()))) for n in range(80)))
        kinds = [r for r, _ in results]
        assert kinds.count(RecordResult.RECORDED) == 40
        assert kinds.count(RecordResult.DUPLICATE) == 40
        steps = await s.list_steps("w1")
        assert sorted(r.completion_seq for r in steps) == list(range(1, 41))
        assert (await s.get_workflow("w1")).step_seq == 40  # type: ignore[union-attr]
        for _result, rec in results:  # a duplicate reports exactly the stored winner
            assert rec is not None and rec == steps[rec.step_number]

    run(pg_url, body)


def test_pg_wake_ups_are_never_lost(pg_url: str) -> None:
    """Parks (and selects) racing the message or event they wait for: each ends claimable."""

    async def main() -> None:
        stores = [store_from_url(pg_url) for _ in range(2)]
        await asyncio.gather(*(s.open() for s in stores))
        a, b = stores
        try:
            n = 40
            for i in range(n):
                await a.create_workflow(wf(f"w{i:02}", created_at=i))
            await a.create_workflow(wf("setter", name="setter"))
            epochs = {w.workflow_id: w.epoch for w in await a.claim_workflows("x", ["wf"], n, 0, 10**9)}
            setter = (await a.claim_workflows("x", ["setter"], 1, 0, 10**9))[0].epoch

            async def recv_race(i: int) -> None:
                wid = f"w{i:02}"
                await asyncio.gather(
                    a.park(wid, epochs[wid], 10**9, Wait(WaitKind.RECV, topic="t"), 1000),
                    b.send_message(msg(wid, topic="t", created_at=1000)))

            async def event_race(i: int) -> None:
                wid = f"w{i:02}"
                await asyncio.gather(
                    a.park(wid, epochs[wid], 10**9, Wait(WaitKind.EVENT, target="setter", key=wid), 1000),
                    set_event(b, "setter", setter, i, wid, b"1", completed_at=1000))

            await asyncio.gather(*(recv_race(i) for i in range(n)))
            assert len(await claimable(a, now=1000)) == n
            epochs = {w.workflow_id: w.epoch for w in await a.claim_workflows("x", ["wf"], n, 0, 10**9)}
            await asyncio.gather(*(event_race(i) for i in range(n)))
            assert len(await claimable(a, now=1000)) == n

            async def select_race(i: int) -> str | None:
                # A select parks, then looks (as the engine does): either the
                # look sees the event or the event's commit wakes the select.
                wid, key = f"w{i:02}", f"s{i:02}"

                async def park_and_look() -> str | None:
                    assert await a.park_select(wid, epochs[wid], 10**9, [event_wait_key("setter", key)], 1000)
                    return wid if await a.get_event("setter", key) is not None else None

                async def set_later() -> None:  # spread over the park's round trips
                    await asyncio.sleep((i % 10) * 0.0005)
                    await set_event(b, "setter", setter, n + i, key, b"1", completed_at=1000)

                seen, _ = await asyncio.gather(park_and_look(), set_later())
                return seen

            epochs = {w.workflow_id: w.epoch for w in await a.claim_workflows("x", ["wf"], n, 0, 10**9)}
            seen = set(await asyncio.gather(*(select_race(i) for i in range(n)))) - {None}
            woken = set(await claimable(a, now=1000))
            assert seen | woken == set(epochs), f"lost: {sorted(set(epochs) - seen - woken)}"
        finally:
            await asyncio.gather(*(s.close() for s in stores))

    asyncio.run(main())


def test_pg_an_event_set_while_a_select_parks_on_it_wakes_the_select(pg_url: str) -> None:
    """The interleaving a race rarely hits, forced: a select parks (under its
    wait lock, not yet committed) while the event it waits for is set. The
    setter waits for the lock before it looks for parked selects, so it sees
    the committed park and wakes it (had it looked first, the select would
    sleep until its deadline: the engine's look after the park runs before
    the setter commits)."""
    from coordinator.store.postgres.pool import libpq_url
    from coordinator.store.postgres.selects import Q
    from coordinator.store.postgres.wakeups import LOCK, LOCK_PARKING, wait_lock

    async def body(s: Store) -> None:
        setter = await claimed(s, "setter", name="setter")
        epoch = await claimed(s, "waiter")
        key = event_wait_key("setter", "ready")
        parker = await psycopg.AsyncConnection.connect(libpq_url(pg_url), autocommit=True)
        try:
            async with parker.transaction():  # park_select's statements (selects.py)
                await parker.execute(LOCK_PARKING, ("waiter", epoch))
                await parker.execute(LOCK, (wait_lock(key, "waiter"),))
                assert await (await parker.execute(Q.park_select, (90_000, "waiter", epoch))).fetchone()
                await parker.execute(Q.insert_select_wait, ("waiter", key))
                setting = asyncio.ensure_future(set_event(s, "setter", setter, 0, "ready", b"1",
                                                          completed_at=4000))
                deadline = asyncio.get_running_loop().time() + 10
                while not await (await parker.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event = 'advisory'")).fetchone():
                    assert not setting.done(), "set_event did not wait for the select's wait lock"
                    assert asyncio.get_running_loop().time() < deadline, "set_event never waited"
                    await asyncio.sleep(0.01)
            assert (await setting)[0] is RecordResult.RECORDED
        finally:
            await parker.close()
        assert await claimable(s, now=5000) == ["waiter"]

    run(pg_url, body)


def test_pg_listen_gets_notes_from_another_store(pg_url: str) -> None:
    async def main() -> None:
        listener, writer = store_from_url(pg_url), store_from_url(pg_url)
        await asyncio.gather(listener.open(), writer.open())
        notes: list[str] = []

        def callback(note: Note) -> None:
            notes.append(note.encode())
            if note == "work" and notes.count("work") == 1:
                raise RuntimeError("a failing callback does not stop the listener")

        try:
            await listener.listen(callback)
            epoch = await claimed(writer, "w1")
            await wait_note(notes, "work")
            await writer.record_step(step("w1", epoch, 0))  # the hot path: no note
            await set_event(writer, "w1", epoch, 1, "k", b"1")
            await wait_note(notes, "event:w1")
            await writer.send_message(msg("w1", topic="t"))
            await wait_note(notes, "msg:w1")
            # A park that can resume at once makes work for a claimer.
            assert await writer.park("w1", epoch, 10**9, Wait(WaitKind.RECV, topic="t"), 2000)
            await wait_note(notes, "work")
            await writer.finish_workflow("w1", None, WorkflowStatus.SUCCESS, ok(), 3000)
            await wait_note(notes, "done:w1")
            await writer.create_workflow(wf("w2", deadline_at=10))
            await writer.expire_deadlines(10)
            await wait_note(notes, "done:w2")
            assert notes == ["work", "event:w1", "msg:w1", "work", "done:w1", "work", "done:w2"]
        finally:
            await asyncio.gather(listener.close(), writer.close())

    asyncio.run(main())


def test_pg_notes_only_while_another_coordinator_listens(pg_url: str) -> None:
    """A store that listens alone sends no notes for its workflows' ends,
    events and messages (they would only reach itself); from the moment a
    second one listens it does, and again not once that one has gone."""

    async def main() -> None:
        a, b = store_from_url(pg_url), store_from_url(pg_url)
        await asyncio.gather(a.open(), b.open())
        heard: list[str] = []  # by a plain connection, not a coordinator's listener
        spy = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
        await spy.execute("LISTEN keel")

        async def spying() -> None:
            async for n in spy.notifies():
                heard.append(n.payload)

        spying_task = asyncio.create_task(spying())
        count = iter(range(1000))
        ended: list[str] = []

        async def round_trip() -> set[str]:
            """A workflow of `a` that sets an event, gets a message and ends,
            then an unclaimed one whose note ("work") is always sent: once
            heard, the notes before it are in. The first's notes heard."""
            wid = f"w{next(count)}"
            ended.append(wid)
            heard.clear()
            epoch = await claimed(a, wid)
            await set_event(a, wid, epoch, 0, "k", b"1")
            assert await a.send_message(msg(wid, topic="t")) is RecordResult.RECORDED
            await a.finish_workflow(wid, None, WorkflowStatus.SUCCESS, ok(), 3000)
            await a.create_workflow(wf(f"marker-{wid}", name="nobody"))
            await wait_note(heard, "work")
            return {n.split(":")[0] for n in heard if n.endswith(f":{wid}")}

        loop = asyncio.get_running_loop()
        try:
            await a.listen(lambda note: None)
            assert await round_trip() == set()  # alone
            notes: list[str] = []
            await b.listen(lambda note: notes.append(note.encode()))  # says hello
            deadline = loop.time() + 10
            while "done" not in await round_trip():  # a hears the hello within moments
                assert loop.time() < deadline, "a never heard b's hello"
            assert await round_trip() == {"event", "msg", "done"}
            await wait_note(notes, f"done:{ended[-1]}")  # and b hears them
            await b.close()
            deadline = loop.time() + 15
            while await round_trip():  # a sees b gone at its next look
                assert loop.time() < deadline, "a kept notifying after b left"
                await asyncio.sleep(0.1)
        finally:
            spying_task.cancel()
            await asyncio.gather(spying_task, return_exceptions=True)
            await spy.close()
            await asyncio.gather(a.close(), b.close())

    asyncio.run(main())


def test_pg_listen_survives_a_lost_connection(pg_url: str, pg_admin_url: str) -> None:
    dbname = pg_url.rsplit("/", 1)[1]

    async def listeners(admin: psycopg.AsyncConnection[Any]) -> list[int]:
        cur = await admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'keel-listen'",
            (dbname,))
        return [pid for (pid,) in await cur.fetchall()]

    async def main() -> None:
        listener, writer = store_from_url(pg_url), store_from_url(pg_url)
        await asyncio.gather(listener.open(), writer.open())
        notes: list[str] = []
        try:
            await listener.listen(lambda note: notes.append(note.encode()))
            epoch = await claimed(writer, "w1")
            await set_event(writer, "w1", epoch, 0, "k", b"0")
            await wait_note(notes, "event:w1")
            async with await psycopg.AsyncConnection.connect(pg_admin_url, autocommit=True) as admin:
                (old,) = await listeners(admin)
                await admin.execute("SELECT pg_terminate_backend(%s)", (old,))
                notes.clear()
                # Notes sent while it reconnects are lost: keep sending.
                number = 1
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 15
                while "event:w1" not in notes:
                    assert loop.time() < deadline, "the listener did not come back"
                    await set_event(writer, "w1", epoch, number, "k", b"1")
                    number += 1
                    await asyncio.sleep(0.05)
                new = await listeners(admin)
                assert len(new) == 1 and new != [old]
                await listener.close()
                # close() ends the listener; its backend leaves pg_stat_activity
                # a moment after the client closed the connection.
                deadline = loop.time() + 10
                while await listeners(admin):
                    assert loop.time() < deadline, "close() left the listener connected"
                    await asyncio.sleep(0.05)
        finally:
            await asyncio.gather(listener.close(), writer.close())

    asyncio.run(main())


def test_listen_is_harmless_on_sqlite(sqlite_url: str) -> None:
    async def body(s: Store) -> None:
        await s.listen(lambda note: None)

    run(sqlite_url, body)


def test_listen_is_harmless_on_memory() -> None:
    async def body(s: Store) -> None:
        await s.listen(lambda note: None)

    run("memory://", body)


def test_pg_a_refused_statement_in_a_group_commit_hurts_no_other(pg_url: str) -> None:
    """Starts, steps and ends in flight are committed together; one the
    database refuses (a NUL in TEXT) fails alone, the others commit."""
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w-run")
        starts = [s.create_workflow(wf(f"w{i}")) for i in range(8)]
        bad = s.create_workflow(wf("w-bad", name="bad\x00name"))
        results = await asyncio.gather(*starts, bad, s.record_step(step("w-run", epoch, 0)),
                                       return_exceptions=True)
        assert isinstance(results[8], Exception), results[8]
        assert all(created for _, created in results[:8]), results[:8]
        assert results[9][0] is RecordResult.RECORDED
        assert await s.get_workflow("w-bad") is None
        assert len(await s.list_workflows(None, None, 100)) == 9

    run(pg_url, body)


def test_pg_a_group_commit_of_big_values_and_of_small_ones_keeps_every_byte(pg_url: str) -> None:
    """A group commit goes as one script; one whose values are big goes as a
    pipeline instead (binding them rather than spelling them out): both keep
    each value exactly, bytes that need escaping included."""
    async def body(s: Store) -> None:
        epochs = [await claimed(s, f"w{i}") for i in range(6)]
        odd = bytes(range(256)) * 4  # quotes, backslashes, NULs in a BYTEA
        for size in (1, 200):  # KiB of values per step: 6 KiB, then 1.2 MiB together
            value = (odd * size)[: size * 1024]
            number = 0 if size == 1 else 1
            results = await asyncio.gather(*(s.record_step(step(f"w{i}", epoch, number, ok(value)))
                                             for i, epoch in enumerate(epochs)))
            assert [r for r, _ in results] == [RecordResult.RECORDED] * 6
            for i in range(6):
                got = await s.get_step(f"w{i}", number)
                assert got is not None and got.outcome.output == Value("json", value)

    run(pg_url, body)


def test_pg_sends_in_one_group_commit_each_get_their_own_result(pg_url: str) -> None:
    """Clients' sends ride the group commit with the steps: several in one
    batch (to one workflow, a key twice, a missing and a final workflow, a
    parked one claimed, one beside it woken) each get the answer they would
    alone."""
    async def body(s: Store) -> None:
        run_epoch = await claimed(s, "w-run")
        done = await claimed(s, "w-done")
        assert await s.finish_workflow("w-done", done, WorkflowStatus.SUCCESS, ok(), 2000)
        for wid in ("w-park", "w-other"):
            epoch = await claimed(s, wid)
            assert await s.park(wid, epoch, 90_000, Wait(WaitKind.RECV, topic="t"), 2000)
        results = await asyncio.gather(
            s.record_step(step("w-run", run_epoch, 0)),
            s.send_message(msg("w-run", b"1", key="k")), s.send_message(msg("w-run", b"2", key="k")),
            s.send_message(msg("w-run", b"3")), s.send_message(msg("nope")), s.send_message(msg("w-done")),
            s.send_and_claim(msg("w-park", topic="t"), "node-b", 9000, ["wf"]),
            s.send_and_claim(msg("w-other", topic="t"), "node-b", 9000, ["another"]))
        assert results[0][0] is RecordResult.RECORDED
        assert sorted(r.value for r in results[1:3]) == ["duplicate", "recorded"]
        assert results[3:6] == [RecordResult.RECORDED, RecordResult.NOT_FOUND, RecordResult.STALE]
        result, got = results[6]
        assert result is RecordResult.RECORDED and got is not None and got.owner == "node-b"
        assert results[7] == (RecordResult.RECORDED, None)
        assert await claimable(s, now=4000) == ["w-other"]  # woken, for whoever serves it

    run(pg_url, body)


def test_pg_a_script_is_one_transaction_and_survives_lost_prepared_statements(pg_url: str) -> None:
    """run_script (park's and the group commit's one write): a statement
    that fails rolls back those before it; a session that lost its prepared
    statements (psycopg's DEALLOCATE ALL after a rollback, DISCARD ALL)
    prepares them again."""
    from coordinator.store.postgres.pool import libpq_url
    from coordinator.store.postgres.script import run_script

    async def main() -> None:
        conn = await psycopg.AsyncConnection.connect(libpq_url(pg_url), autocommit=True)
        try:
            await conn.execute("CREATE TEMP TABLE t (a int PRIMARY KEY, b text)")
            insert = "INSERT INTO t VALUES (%s, %s) RETURNING a"
            assert await run_script(conn, [(insert, (1, "x")), ("SELECT %s::int + 1", (41,)),
                                           ("SELECT 1 WHERE false", ())]) == [(1,), (42,), None]
            with pytest.raises(psycopg.errors.UniqueViolation):
                await run_script(conn, [(insert, (2, "it's")), (insert, (1, "again"))])
            assert await (await conn.execute("SELECT a FROM t ORDER BY a")).fetchall() == [(1,)]
            # psycopg sends DEALLOCATE ALL after any ROLLBACK on the connection.
            async with conn.transaction() as tx:
                await conn.execute("SELECT 1")
                raise psycopg.Rollback(tx)
            assert await run_script(conn, [(insert, (3, "50%"))]) == [(3,)]
            await conn.execute("DISCARD ALL")
            await conn.execute("CREATE TEMP TABLE t (a int PRIMARY KEY, b text)")
            assert await run_script(conn, [(insert, (4, "z")), ("SELECT %s::int + 1", (1,))]) == [(4,), (2,)]
            assert await (await conn.execute("SELECT b FROM t")).fetchall() == [("z",)]
        finally:
            await conn.close()

    asyncio.run(main())


def test_pg_statistics_refreshed_while_autovacuum_is_off(pg_url: str) -> None:
    """With autovacuum off nothing re-plans the statements a coordinator
    prepared against empty tables, nor removes the dead index entries its
    claims would walk: it runs VACUUM and ANALYZE itself (statistics.py)."""
    from coordinator.store.postgres.statistics import Statistics

    async def last_analyzed(conn: psycopg.AsyncConnection[Any]) -> Any:
        cur = await conn.execute("SELECT CASE WHEN last_vacuum IS NOT NULL THEN last_analyze END "
                                 "FROM pg_stat_user_tables WHERE relname = 'workflows'")
        return (await cur.fetchone() or (None,))[0]

    async def main() -> None:
        store = store_from_url(pg_url)
        await store.open()
        try:
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
                off = (await (await conn.execute("SHOW autovacuum")).fetchone()) == ("off",)
                statistics: Statistics = store._statistics  # type: ignore[attr-defined]
                assert (statistics._task is not None) == off  # only where nothing else does
                refresher = Statistics(store._pool, every=0.05)  # type: ignore[attr-defined]
                refresher.start()
                deadline = asyncio.get_running_loop().time() + 10
                while await last_analyzed(conn) is None:
                    assert asyncio.get_running_loop().time() < deadline, "no VACUUM ANALYZE within 10 s"
                    await asyncio.sleep(0.05)
                await refresher.close()
        finally:
            await store.close()

    asyncio.run(main())
