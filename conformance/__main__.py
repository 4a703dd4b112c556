"""Run the conformance kit: `python -m conformance --worker "COMMAND"`.

COMMAND starts one worker under test; "{coordinator}" in it is replaced by the
coordinator's address (also in KEEL_COORDINATOR), and KEEL_CONFORMANCE_DIR
names the folder conf_mark writes to. Exits 1 if any scenario failed."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from .kit import Failed, Kit
from .scenarios import STEPS, WORKFLOWS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", required=True, metavar="COMMAND",
                        help="how to start the worker under test, e.g. "
                             '"node worker.js --coordinator {coordinator}"')
    parser.add_argument("--serves", choices=("steps", "workflows"), default="workflows",
                        help="steps: the worker serves only the conf_* steps; workflows (default): "
                             "the conf_wf_* workflows too")
    parser.add_argument("--store", default="sqlite", help="sqlite (a file in the work folder) or a "
                        "postgresql:// URL of an empty database")
    parser.add_argument("--workdir", type=Path,
                        help="where logs and marks go (default: a new temporary folder)")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="run only the scenarios whose name contains TEXT (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="keel-conformance-"))
    scenarios = STEPS + (WORKFLOWS if args.serves == "workflows" else [])
    if args.only:
        scenarios = [s for s in scenarios if any(t in s[0] for t in args.only)]
    kit = Kit(args.worker, workdir, args.store)
    rows: list[tuple[str, str, str]] = []
    try:
        kit.start_coordinator()
        kit.start_driver()
        kit.start_worker()
        kit.start_worker()  # the spare
        for name, scenario in scenarios:
            started = time.monotonic()
            try:
                note = scenario(kit)
                rows.append((name, "PASS", note))
            except Failed as e:
                rows.append((name, "FAIL", str(e)))
            except Exception as e:  # a bug in the worker's answers, or in the kit
                rows.append((name, "FAIL", f"{type(e).__name__}: {e}"))
            rows[-1] = (*rows[-1][:2], f"{rows[-1][2]} ({time.monotonic() - started:.1f} s)")
            for proc in list(kit.workers):  # keep a worker and a spare for the next one
                if not proc.alive():
                    kit.replace(proc)
    except Failed as e:
        rows.append(("setting up", "FAIL", str(e)))
    finally:
        kit.close()
    if args.serves == "steps":
        rows += [(name, "SKIP", "the worker serves steps only (--serves steps)") for name, _ in WORKFLOWS]
    print(table(rows, args.worker, workdir))
    return 1 if any(status == "FAIL" for _, status, _ in rows) else 0


def table(rows: list[tuple[str, str, str]], command: str, workdir: Path) -> str:
    width = max(len(r[0]) for r in rows)
    passed = sum(r[1] == "PASS" for r in rows)
    failed = sum(r[1] == "FAIL" for r in rows)
    skipped = sum(r[1] == "SKIP" for r in rows)
    lines = [f"keel conformance: {command}", f"{'scenario'.ljust(width)}  result  detail",
             f"{'-' * width}  ------  ------"]
    lines += [f"{name.ljust(width)}  {status.ljust(6)}  {detail}" for name, status, detail in rows]
    summary = f"conformance: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "")
    lines += ["", summary, f"logs in {workdir}"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
