"""Several stream messages in one write, both ways, when the other side reads
batches (Register.batches / Registered.batches).

Under load many messages are ready at once (records of many workflows, the
replies of one group commit); each gRPC message costs both processes thread
hand-offs and system calls, so those ready together go as one WorkerBatch.
A lone message still goes alone, at once: batching never waits.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator

from keel.v1 import worker_service_pb2 as wpb

# A batch is closed once it holds this much; a bigger message goes alone.
# Well under the smallest message limit a coordinator accepts (64 KiB, its
# reserve for a record's fields), whatever --max-message-bytes it runs with.
BATCH_BYTES = 32 * 1024


def requests(outbox: queue.SimpleQueue[wpb.WorkerMessage | None],
             batches: Callable[[], bool]) -> Iterator[wpb.WorkerMessage]:
    """The messages to write, from `outbox` until None; whatever is queued
    behind the first goes with it in one batch while `batches()` is true."""
    held: list[wpb.WorkerMessage | None] = []  # taken off the queue, not yet written
    while True:
        msg = held.pop() if held else outbox.get()
        if msg is None:
            return
        if outbox.empty() or not batches():
            yield msg
            continue
        size = msg.ByteSize()
        batch = wpb.WorkerMessage()
        batch.batch.messages.append(msg)
        while size < BATCH_BYTES:
            try:
                more = outbox.get_nowait()
            except queue.Empty:
                break
            more_size = 0 if more is None else more.ByteSize()
            if more is None or size + more_size > BATCH_BYTES:
                held.append(more)  # the end of the stream, or the next write
                break
            batch.batch.messages.append(more)
            size += more_size
        yield batch if len(batch.batch.messages) > 1 else msg


def unbatch(msg: wpb.CoordinatorMessage) -> Iterator[wpb.CoordinatorMessage]:
    """The messages `msg` stands for: itself, or those of its batch in order."""
    if msg.WhichOneof("body") == "batch":
        yield from msg.batch.messages
    else:
        yield msg
