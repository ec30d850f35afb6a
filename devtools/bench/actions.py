"""Game actions under load against one hypercorn worker of quart_app (issue target:
>= 250 actions/s, p99 <= 2.5 s, 0 errors for 2,000 actions at 500 in flight, upstream 1 s).

    .venv/bin/python -m devtools.bench actions [--actions 2000] [--concurrency 500]
        [--latency 1.0] [--app quart|flask] [--quick]

Starts the fake DeepSeek server and the app as real processes on 127.0.0.1 (fresh SQLite
file), then runs :mod:`devtools.load`'s ``actions`` scenario in a child process (so its CPU
is not charged to the server): one cultivator per in-flight slot, each slot sending actions
for its own player (talk to the village elder), so every request is a full action: load,
rules, commit, narrate, save.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from devtools import costs, load, procs


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--actions", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=500)
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--app", choices=("quart", "flask"), default="quart")
    ap.add_argument("--cap", type=float, default=120.0, help="seconds before the load stops")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 200 actions at 50 in flight, 0.2 s latency")
    args = ap.parse_args(argv)
    if args.quick:
        args.actions, args.concurrency, args.latency, args.cap = 200, 50, 0.2, 30.0

    run_dir = Path(tempfile.mkdtemp(prefix="bench-actions-"))
    stack_name = "quart-httpx" if args.app == "quart" else "flask"
    fake = procs.start_fake(run_dir, latency=args.latency, max_seconds=args.cap + 300)
    env = procs.stack_env(stack_name, fake.base_url, run_dir, "redis://127.0.0.1:6379/15")
    stack = None
    try:
        stack = procs.start_stack(stack_name, env, run_dir, worker_threads=4)
        print(f"{stack_name} on {stack.base_url}; fake upstream latency {args.latency}s; "
              f"{args.actions} actions at {args.concurrency} in flight", file=sys.stderr)
        before = costs.cpu_seconds(stack.procs)
        result = load.run_in_process(stack.base_url, args.actions, args.concurrency, args.cap,
                                     scenario="actions", label="actions")
        cpu = costs.cpu_used(before, costs.cpu_seconds(stack.procs))
        rss = costs.rss_bytes(stack.procs)
    finally:
        if stack is not None:
            stack.stop()
        fake.stop()
    served = result["ok"] + result["degraded"]
    ideal = args.actions / args.concurrency * max(args.latency, 1e-9)
    p50, p99 = result["p50_s"] or 0.0, result["p99_s"] or 0.0
    print(f"actions served    {served} / {args.actions}  (errors: {result['error_kinds'] or 0}, "
          f"degraded: {result['degraded']})")
    print(f"wall              {result['wall_s']:.2f} s  (ideal {ideal:.1f} s)")
    print(f"throughput        {result['served_rps']:.0f} actions/s  (target >= 250)")
    print(f"latency p50/p99   {p50:.3f} s / {p99:.3f} s  (target p99 <= 2.5)")
    print(f"server CPU        {cpu:.2f} s = {1000 * cpu / max(served, 1):.2f} ms per action "
          "(includes player creation)")
    print(f"server RSS        {rss / 2**20:.0f} MiB")
    print(f"logs              {run_dir}")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
