"""Whether another coordinator listens on this database.

Notes (NOTIFY) exist for other coordinators: our own commits wake our own
waiters directly. A note is not free: at commit PostgreSQL queues it and
signals every listening backend, ours included, and our listener then reads
and drops it. A coordinator alone on its database (the usual deployment)
paid that on every workflow's end for nothing: 256 -> 278 workflows/s on
PostgreSQL without the end's note (bench/FINDINGS.md). So the hot statements
(a workflow's end, set_event, a client's send) notify only while another
coordinator listens.

Who listens is read from pg_stat_activity (every listener connection carries
the same application_name), every few seconds; a coordinator that starts
listening says "hello" at once, so the others notify from then on without
waiting for their next look. Between its LISTEN and their hearing the hello
(milliseconds), a note may be missed: its waiters then see the change at
their next poll, as they do after any lost note. While our own listener is
down we cannot tell, so we notify.
"""

from __future__ import annotations

from typing import Any

import psycopg

from .wakeups import CHANNEL

HELLO = "hello"  # a listener that just started; never a Note
LISTEN_APP_NAME = "keel-listen"

_SAY_HELLO = f"SELECT pg_notify('{CHANNEL}', '{HELLO}')"
_OTHERS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
           "AND application_name = %s AND pid <> pg_backend_pid()")


class Peers:
    def __init__(self) -> None:
        # Until our listener has looked, assume someone listens.
        self.present = True

    async def joined(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Our listener (on `conn`) listens now: greet the others, then look."""
        await conn.execute(_SAY_HELLO)
        await self.look(conn)

    async def look(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Count the other listeners, over our listener's own connection."""
        cur = await conn.execute(_OTHERS, (LISTEN_APP_NAME,))
        row = await cur.fetchone()
        self.present = bool(row and row[0])

    def heard(self, payload: str, pid: int, own_pid: int) -> bool:
        """Whether a note is a hello (never passed on); one from another
        backend means another coordinator listens."""
        if payload != HELLO:
            return False
        if pid != own_pid:
            self.present = True
        return True

    def lost(self) -> None:
        """Our listener is down: we cannot tell who listens."""
        self.present = True
