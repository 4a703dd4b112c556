"""An order checkout: reserve stock, charge the card, ask two carriers for a
quote at once and take the first to answer (`go` and `select`), ship, notify;
its progress is published as the event "status".

Run a coordinator and a worker serving this module, then start a workflow:

    coordinator serve &
    worker run examples.checkout &
    python examples/demo.py --no-spawn
"""

from __future__ import annotations

import random
import time

from worker import WorkflowContext, step, workflow


def say(text: str) -> None:
    print(f"  [worker] {text}", flush=True)


@step()
def reserve_stock(order_id: str, items: list[str]) -> str:
    say(f"reserving {', '.join(items)} for {order_id}")
    return f"res-{order_id}"


@step(max_retries=3, backoff=0.1)
def charge_card(order_id: str, amount_cents: int) -> str:
    say(f"charging {amount_cents / 100:.2f} EUR for {order_id}")
    return f"pay-{order_id}"


@step()
def quote_express(order_id: str) -> dict[str, object]:
    time.sleep(random.uniform(0.2, 0.6))  # one carrier's API, sometimes slow
    return {"carrier": "express", "days": 1, "cents": 1490}


@step()
def quote_standard(order_id: str) -> dict[str, object]:
    time.sleep(random.uniform(0.2, 0.6))
    return {"carrier": "standard", "days": 3, "cents": 590}


@step()
def ship(order_id: str, reservation: str, carrier: str = "standard") -> str:
    say(f"shipping {order_id} from reservation {reservation} with {carrier}")
    time.sleep(0.2)  # a real carrier API takes a moment
    return f"track-{order_id}"


@step()
def send_email(order_id: str, tracking: str) -> None:
    say(f"emailing the customer of {order_id}: tracking number {tracking}")


@workflow()
def checkout(ctx: WorkflowContext, order_id: str, items: list[str], amount_cents: int) -> dict[str, str]:
    ctx.set_event("status", "reserving")
    reservation = ctx.run_step(reserve_stock, order_id, items)
    payment = ctx.run_step(charge_card, order_id, amount_cents)
    ctx.set_event("status", "paid")
    # Both carriers at once; the first quote wins (the coordinator records which).
    express, standard = ctx.go(quote_express, order_id), ctx.go(quote_standard, order_id)
    _, quote = ctx.select([express, standard])
    ctx.set_event("carrier", quote["carrier"])
    tracking = ctx.run_step(ship, order_id, reservation, quote["carrier"])
    ctx.set_event("status", "shipped")
    ctx.run_step(send_email, order_id, tracking)
    return {"order": order_id, "payment": payment, "carrier": quote["carrier"], "tracking": tracking}
