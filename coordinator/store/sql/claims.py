"""The claim of workflows, in both SQL dialects: the statement that takes
them and the probe that asks whether more wait.

SKIP LOCKED: concurrent claimers take disjoint rows instead of waiting; a row
claimed meanwhile fails the re-checked WHERE. Claimable are three kinds of
PENDING rows, each read through a partial index of its own (schema 11), never
parked or finished rows: neither owned nor parked (oldest first, from a floor
of created_at), parked and due (by resume_at), owned with the lease run out
(if asked: postgres/claim_floor.py). Each kind gives at most `limit`, the
oldest of those win; claiming ends the park. The unowned are read through
created_at + 0 on PostgreSQL (schema 14), no other index's order; SQLite is
told its index (bench/FINDINGS.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .rows import WORKFLOW

if TYPE_CHECKING:
    from .queries import Dialect


def claim_statements(d: Dialect) -> tuple[str, str]:
    """(claim_workflows, has_claimable), rendered in `d`; parameters: see
    claim_params and claimable_params."""
    created = "created_at + 0" if d.postgres else "created_at"
    kinds = (("workflows_claimable", f"owner IS NULL AND resume_at IS NULL AND {created} >= ?",
              f"{created}, workflow_id"),
             ("workflows_resume", "resume_at <= ? AND (owner IS NULL OR lease_until < ?)",
              "resume_at"),
             ("workflows_owned", "owner IS NOT NULL AND lease_until < ? AND resume_at IS NULL AND 1 = ?",
              "lease_until, workflow_id"))

    def branch(index: str, where: str, order: str, lock: str) -> str:
        return (f"SELECT workflow_id, created_at FROM workflows{d.indexed_by(index)} "
                f"WHERE status = 'PENDING' AND {where} AND {d.in_list('name')} "
                f"ORDER BY {order} LIMIT ?{lock}")

    skip_locked = " FOR UPDATE SKIP LOCKED" if d.postgres else ""
    branches = [branch(*kind, skip_locked) for kind in kinds]
    if d.postgres:
        ctes = ", ".join(f"k{i} AS ({b})" for i, b in enumerate(branches))
        union = " UNION ALL ".join(f"SELECT * FROM k{i}" for i in range(len(branches)))
        picked = f"SELECT workflow_id FROM ({union}) u ORDER BY created_at, workflow_id LIMIT ?"
        claim = (f"WITH {ctes}, picked AS ({picked}) UPDATE workflows w {_SET}"
                 f"FROM picked WHERE w.workflow_id = picked.workflow_id RETURNING {WORKFLOW.of('w')}")
    else:
        union = " UNION ALL ".join(f"SELECT * FROM ({b})" for b in branches)
        picked = f"SELECT workflow_id FROM ({union}) ORDER BY created_at, workflow_id LIMIT ?"
        claim = (f"WITH picked AS ({picked}) UPDATE workflows {_SET}"
                 f"WHERE workflow_id IN (SELECT workflow_id FROM picked) RETURNING {WORKFLOW.sql}")
    # The probe reads the first two kinds, one row each, and locks nothing:
    # a row another claim holds counts (it may yet be left). Run-out leases
    # are left out; the claims look for them once per poll interval.
    probe = " UNION ALL ".join(f"SELECT * FROM ({branch(*kind, '')}) k{i}"
                               for i, kind in enumerate(kinds[:2]))
    return d.render(claim), d.render(probe)


_SET = ("SET owner = ?, lease_until = ?, epoch = epoch + 1, updated_at = ?, "
        "resume_at = NULL, wait_key = NULL ")


def claim_params(names: Any, now: int, limit: int, owner: str, lease_until: int,
                 floor: int = 0, leases: bool = True) -> tuple[Any, ...]:
    """Of claim_workflows; `names` as Dialect.list_param made them; no
    unowned workflow created before `floor` is looked at, no run-out lease
    unless `leases`."""
    return (floor, names, limit, now, now, names, limit, now, int(leases), names, limit, limit, owner,
            lease_until, now)


def claimable_params(names: Any, now: int, floor: int = 0) -> tuple[Any, ...]:
    """Of has_claimable: a row if a workflow waits unowned (created from
    `floor` on) or parked and due."""
    return (floor, names, 1, now, now, names, 1)
