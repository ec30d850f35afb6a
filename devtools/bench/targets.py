"""Issue 12's targets in one run, each printed with its margin and PASS/FAIL.

    .venv/bin/python -m devtools.bench targets [--requests 2000] [--concurrency 500]
        [--latency 1.0] [--no-postgres] [--no-multi] [--quick]

One fake DeepSeek (1 s), one closed-loop load generator in its own process, then in turn:

1. quart_app, one hypercorn worker, SQLite: ``POST /api/llm`` (2,000 at 500 in flight),
   then the game-action ``mix`` (2,000 at 500 in flight: explore, cultivate, talk, shop).
   Targets: actions/s >= 90% of the /api/llm req/s, <= 2.0 ms server CPU per action,
   p99 <= 1.6 s, 0 errors.
2. the same on PostgreSQL (reported beside it, no target);
3. ``QUART_WORKERS=2`` (two hypercorn workers on one socket, SQLite): /api/llm >= 450 req/s,
   the game-action figure beside it, and as the ceiling of that target on this machine the
   seed plan's minimal route (``devtools.bench routes``' ``seed-route``: no token, no limits,
   no store) on the same two workers.

The load average is printed with every phase: on a shared 2-core machine compare the ratios
of one run. The figures go to ``docs/img/bench-targets.json`` (``devtools.bench report``
puts them into docs/evaluation.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from devtools import costs, procs
from devtools.bench.actions import Running, app_stack, describe, run_phase
from devtools.bench.routes import minimal_stack

OUT = procs.ROOT / "docs" / "img" / "bench-targets.json"
ACTION_SHARE = 0.90
CPU_MS_MAX = 2.0
P99_MAX = 1.6
MULTI_LLM_MIN = 450.0


def _phases(app: Running, plan: argparse.Namespace, *, llm: bool, actions: bool,
            results: dict[str, Any], key: str) -> None:
    """Warm-up, then the measured /api/llm and action phases of one app."""
    run_phase(app, "llm", min(200, plan.requests), min(100, plan.concurrency), 30.0,
              f"{key} warm-up")
    if llm:
        results[f"{key}/llm"] = s = run_phase(app, "llm", plan.requests, plan.concurrency,
                                              plan.cap, f"{key} /api/llm")
        print("  " + describe(s), flush=True)
    if actions:
        results[f"{key}/mix"] = s = run_phase(app, "mix", plan.requests, plan.concurrency,
                                              plan.cap, f"{key} actions")
        print("  " + describe(s), flush=True)


def verdicts(results: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(target, passed, figures with margin) for every target whose phases ran."""
    out: list[tuple[str, bool, str]] = []
    llm, mix = results.get("sqlite-1/llm"), results.get("sqlite-1/mix")
    if llm and mix:
        share = mix["served_rps"] / llm["rps"] if llm["rps"] else 0.0
        out.append(("actions/s >= 90% of /api/llm req/s (1 worker, SQLite)",
                    share >= ACTION_SHARE,
                    f"{mix['served_rps']:.0f} vs {llm['rps']:.0f} = {share:.0%} "
                    f"(margin {100 * (share - ACTION_SHARE):+.0f} points)"))
    if mix:
        cpu = mix["cpu_ms"] or float("inf")
        out.append(("<= 2.0 ms server CPU per action", cpu <= CPU_MS_MAX,
                    f"{cpu:.2f} ms (margin {CPU_MS_MAX - cpu:+.2f} ms)"))
        p99 = mix["p99_s"] if mix["p99_s"] is not None else float("inf")
        out.append(("action p99 <= 1.6 s", p99 <= P99_MAX,
                    f"{p99:.2f} s (margin {P99_MAX - p99:+.2f} s)"))
        out.append(("0 errors in the actions", mix["errors"] == 0 and mix["finished"],
                    f"{mix['errors']} errors {mix['error_kinds'] or ''}, "
                    f"{mix['served']} served, {mix['refused']} refused by the rules"))
    multi = results.get("sqlite-2/llm")
    if multi:
        seed = results.get("seed-route-x2/prompt")
        ceiling = (f"; the minimal seed route on the same 2 workers: {seed['rps']:.0f} req/s"
                   if seed else "")
        out.append(("QUART_WORKERS=2: /api/llm >= 450 req/s", multi["rps"] >= MULTI_LLM_MIN,
                    f"{multi['rps']:.0f} req/s (margin {multi['rps'] - MULTI_LLM_MIN:+.0f}); "
                    f"actions beside it: "
                    f"{results.get('sqlite-2/mix', {}).get('served_rps', 0):.0f}/s{ceiling}"))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the phases, print every target with PASS/FAIL; 1 when one fails."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=500)
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--cap", type=float, default=60.0, help="seconds per phase at most")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-multi", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 300 requests at 100 in flight, 0.3 s latency")
    args = ap.parse_args(argv)
    if args.quick:
        args.requests, args.concurrency, args.latency, args.cap = 300, 100, 0.3, 30.0

    results: dict[str, Any] = {}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="xianxia-targets-") as tmp:
        run_dir = Path(tmp)
        fake = procs.start_fake(run_dir, latency=args.latency, max_seconds=1800)
        try:
            layouts = [("sqlite-1", "sqlite", 1, True)]
            if not args.no_postgres:
                layouts.append(("postgresql-1", "postgresql", 1, False))
            if not args.no_multi:
                layouts.append(("sqlite-2", "sqlite", 2, True))
            for key, db, workers, llm in layouts:
                with app_stack(run_dir, fake, db=db, workers=workers, name=key) as app:
                    print(f"== {app.label}", flush=True)
                    _phases(app, args, llm=llm, actions=True, results=results, key=key)
            if not args.no_multi:
                with minimal_stack("seed-route-x2", run_dir, fake) as app:
                    print("== seed route (minimal Quart app) x2", flush=True)
                    run_phase(app, "prompt", min(200, args.requests),
                              min(100, args.concurrency), 30.0, "seed-route-x2 warm-up")
                    results["seed-route-x2/prompt"] = s = run_phase(
                        app, "prompt", args.requests, args.concurrency, args.cap,
                        "seed-route-x2 /api/llm")
                    print("  " + describe(s), flush=True)
        finally:
            fake.stop()
    checks = verdicts(results)
    print(f"\n{args.requests} requests at {args.concurrency} in flight, upstream "
          f"{args.latency:g} s, {os.cpu_count()} cores, load average now "
          f"{os.getloadavg()[0]:.1f}")
    for name, passed, figures in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {figures}")
    record = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "quick": args.quick,
        "plan": {"requests": args.requests, "concurrency": args.concurrency,
                 "latency": args.latency},
        "machine": costs.machine(),
        "phases": results,
        "verdicts": [{"target": n, "passed": p, "figures": f} for n, p, f in checks],
    }
    if not args.quick:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1, ensure_ascii=False))
        print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all(p for _, p, _ in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
