"""Resident memory of one quart_app worker after 1,000 and after 20,000 game actions.

    .venv/bin/python -m devtools.bench rss [--first 1000] [--total 20000] [--players 50]
        [--latency 0.0] [--quick]

quart_app on one hypercorn worker (SQLite, the fake upstream at ``--latency``), the
``mix`` of :mod:`devtools.load` (explore, cultivate, talk, shop) from ``--players`` cultivators
at once; the RSS of the server's process tree is read after ``--first`` actions and again
after ``--total``. Target (issue 12): the second within 5% of the first, since conversation
memory and everything else a player accumulates lives in the store, not in the process.
Exit status 1 when the target is missed or an action failed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from devtools import costs, procs
from devtools.bench.actions import app_stack, describe, run_phase

GROWTH_MAX = 0.05


def main(argv: list[str] | None = None) -> int:
    """Run the two phases and print both RSS readings with the verdict."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--first", type=int, default=1_000)
    ap.add_argument("--total", type=int, default=20_000)
    ap.add_argument("--players", type=int, default=50, help="cultivators playing at once")
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--cap", type=float, default=240.0, help="seconds for the long phase")
    ap.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 300 then 1,500 actions")
    args = ap.parse_args(argv)
    if args.quick:
        args.first, args.total, args.cap = 300, 1_500, 60.0

    with tempfile.TemporaryDirectory(prefix="xianxia-rss-") as tmp:
        run_dir = Path(tmp)
        fake = procs.start_fake(run_dir, latency=args.latency, max_seconds=args.cap + 600)
        try:
            with app_stack(run_dir, fake, name="rss") as app:
                first = run_phase(app, "mix", args.first, args.players, 120.0,
                                  f"first {args.first}")
                rss_first = costs.rss_bytes(app.procs)
                print(describe(first), flush=True)
                rest = run_phase(app, "mix", args.total - args.first, args.players, args.cap,
                                 f"next {args.total - args.first}")
                rss_total = costs.rss_bytes(app.procs)
                print(describe(rest), flush=True)
        finally:
            fake.stop()
    sent = first["served"] + first["refused"] + rest["served"] + rest["refused"]
    growth = rss_total / rss_first - 1
    errors = first["errors"] + rest["errors"]
    passed = growth <= GROWTH_MAX and errors == 0 and first["finished"] and rest["finished"]
    print(f"RSS after {args.first} actions: {rss_first / 2**20:.1f} MiB")
    print(f"RSS after {sent} actions: {rss_total / 2**20:.1f} MiB "
          f"({growth:+.1%}; target <= +{GROWTH_MAX:.0%}); {errors} errors; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'PASS' if passed else 'FAIL'}  RSS after {args.total} within 5% of RSS after "
          f"{args.first}: margin {100 * (GROWTH_MAX - growth):+.1f} points")
    if args.out is not None:
        args.out.write_text(json.dumps({
            "first": args.first, "total": sent, "players": args.players,
            "rss_first_bytes": rss_first, "rss_total_bytes": rss_total, "growth": growth,
            "errors": errors, "passed": passed,
            "phases": {"first": first, "rest": rest}}, indent=1, ensure_ascii=False))
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
