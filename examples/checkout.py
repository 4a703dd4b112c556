"""An order checkout: reserve stock, charge the card, ship, notify.

Run a coordinator and a worker serving this module, then start a workflow:

    coordinator serve &
    worker run examples.checkout &
    python examples/demo.py --no-spawn
"""

from __future__ import annotations

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
def ship(order_id: str, reservation: str) -> str:
    say(f"shipping {order_id} from reservation {reservation}")
    time.sleep(0.2)  # a real carrier API takes a moment
    return f"track-{order_id}"


@step()
def send_email(order_id: str, tracking: str) -> None:
    say(f"emailing the customer of {order_id}: tracking number {tracking}")


@workflow()
def checkout(ctx: WorkflowContext, order_id: str, items: list[str], amount_cents: int) -> dict[str, str]:
    reservation = ctx.run_step(reserve_stock, order_id, items)
    payment = ctx.run_step(charge_card, order_id, amount_cents)
    tracking = ctx.run_step(ship, order_id, reservation)
    ctx.run_step(send_email, order_id, tracking)
    return {"order": order_id, "payment": payment, "tracking": tracking}
