"""The Store contract on what callers may send: any Unicode text round-trips,
and a listing reads no payloads (issue 18, points 2 and 3)."""

from __future__ import annotations

import dataclasses

from coordinator.store import Failure, Outcome, Store, Value, WorkflowStatus

from .support import claimed, run, step, wf

# NUL (which PostgreSQL TEXT cannot hold), a backslash escape, controls, and
# characters outside the BMP.
ODD_TEXTS = ["a\x00b", "\x00", "\\x00\\\\", "tab\tnew\nline\r", "é ☃ 𝄞 \U0010fffd", ""]


def test_error_texts_round_trip_on_workflows_and_steps(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        for i, text in enumerate(ODD_TEXTS):
            wid = f"w{i}"
            epoch = await claimed(s, wid)
            failure = Failure(f"Type{text}", f"message {text}", f"details {text}")
            result, rec = await s.record_step(step(wid, epoch, 0, Outcome(error=failure)))
            assert rec is not None and rec.outcome.error == failure
            [listed] = await s.list_steps(wid)
            assert listed.outcome.error == failure
            done = await s.finish_workflow(wid, epoch, WorkflowStatus.ERROR, Outcome(error=failure), 3000)
            assert done is not None and done.outcome == Outcome(error=failure)
            got = await s.get_workflow(wid)
            assert got is not None and got.outcome == Outcome(error=failure)

    run(any_store_url, body)


def test_a_listing_reads_no_payloads(any_store_url: str) -> None:
    big = b'{"args": ["' + b"x" * (1 << 20) + b'"]}'

    async def body(s: Store) -> None:
        ok_epoch = await claimed(s, "ok", name="wf_ok", data=big, created_at=1000)
        epoch = await claimed(s, "bad", created_at=2000, data=big)
        await s.create_workflow(wf("pending", data=big, created_at=3000))
        output = Outcome(output=Value("json", big))
        await s.finish_workflow("ok", ok_epoch, WorkflowStatus.SUCCESS, output, 4000)
        failure = Failure("ValueError", "m" * 5000, "d" * 5000)
        await s.finish_workflow("bad", epoch, WorkflowStatus.ERROR, Outcome(error=failure), 4000)

        listed = {w.workflow_id: w for w in await s.list_workflows(None, None, 10)}
        assert list(listed) == ["pending", "bad", "ok"]
        for w in listed.values():
            assert w.input == Value("json", b"")
        assert listed["ok"].outcome == Outcome(output=Value("json", b""))
        error = listed["bad"].outcome.error if listed["bad"].outcome else None
        assert error is not None and error.type == "ValueError" and error.details == ""
        assert 200 <= len(error.message) <= 800 and set(error.message) == {"m"}
        # Everything else is as get_workflow has it.
        full = await s.get_workflow("ok")
        assert full is not None and full.input.data == big
        assert dataclasses.replace(listed["ok"], input=full.input, outcome=full.outcome) == full

    run(any_store_url, body)
