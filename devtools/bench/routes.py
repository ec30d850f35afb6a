"""The seed plan's route example and an ``async def`` Flask view, beside quart_app's route.

    .venv/bin/python -m devtools.bench routes [--quick]

One fake DeepSeek (1 s), then in turn, each as real processes on 127.0.0.1:

- ``seed-route``: the seed plan's example route as written (``devtools.bench.seed_apps``:
  Quart, one shared DeepSeekClient, ``await client.chat_async(prompt)``, ``{"text"}``) on one
  hypercorn worker with the shipped config;
- ``flask-async-view``: the same route as an ``async def`` Flask view on gunicorn, 4 sync
  workers (each request in a fresh event loop inside the worker, so one at a time per worker
  and a new upstream connection per request);
- ``quart-app``: quart_app's own ``POST /api/llm`` (token, rate count, budgets), one worker;
- ``seed-route-x2`` (only when asked, ``--stacks``; ``devtools.bench targets`` runs it): the
  seed route on two hypercorn workers, the ceiling of any app on ``QUART_WORKERS=2`` here.

Phases per stack: 50 requests at once (wall time), then 2,000 at 500 in flight (capped at
``--cap`` s: a stack that cannot finish is reported with what it did). Server CPU per request
and the load average beside each. Results: ``docs/img/bench-routes.json`` (``devtools.bench
report`` puts them into docs/evaluation.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devtools import costs, procs
from devtools.bench.actions import Running, app_stack, describe, run_phase

OUT = procs.ROOT / "docs" / "img" / "bench-routes.json"
STACKS = ("seed-route", "flask-async-view", "quart-app")


@contextlib.contextmanager
def minimal_stack(kind: str, run_dir: Path, fake: procs.FakeDeepSeek) -> Iterator[Running]:
    """One of the two minimal apps on its server."""
    port = procs.free_port()
    env = {"DEEPSEEK_BASE_URL": fake.base_url, "DEEPSEEK_API_KEY": "sk-bench",
           "LOG_LEVEL": "WARNING"}
    if kind in ("seed-route", "seed-route-x2"):
        config = str(procs.ROOT / "deploy/hypercorn.toml")
        cmd = [str(procs.BIN / "hypercorn"), "--config", config,
               "--workers", "2" if kind.endswith("-x2") else "0", "--bind", f"127.0.0.1:{port}",
               "devtools.bench.seed_apps:create_seed_quart()"]
        app = "quart"
    else:
        cmd = [str(procs.BIN / "gunicorn"), "--workers", "4", "--worker-class", "sync",
               "--backlog", "2048", "--timeout", "120", "--bind", f"127.0.0.1:{port}",
               "devtools.bench.seed_apps:create_flask_async()"]
        app = "flask"
    server = procs.start_app(app, env, run_dir, port=port, cmd=cmd, name=kind)
    try:
        yield Running(server.base_url, [server.proc], kind)
    finally:
        server.stop(timeout=30.0)


def main(argv: list[str] | None = None) -> int:
    """Measure the three routes; print and save their figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=500)
    ap.add_argument("--burst", type=int, default=50)
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--cap", type=float, default=60.0)
    ap.add_argument("--stacks", default=",".join(STACKS))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--quick", action="store_true", help="300 requests at 100, 20 at once")
    args = ap.parse_args(argv)
    if args.quick:
        args.requests, args.concurrency, args.burst, args.cap = 300, 100, 20, 30.0
    names = [n.strip() for n in args.stacks.split(",") if n.strip()]

    results: dict[str, Any] = {}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="xianxia-routes-") as tmp:
        run_dir = Path(tmp)
        fake = procs.start_fake(run_dir, latency=args.latency, max_seconds=1800)
        try:
            for name in names:
                ctx = (app_stack(run_dir, fake, name=name) if name == "quart-app"
                       else minimal_stack(name, run_dir, fake))
                scenario = "llm" if name == "quart-app" else "prompt"
                with ctx as app:
                    print(f"== {name}", flush=True)
                    run_phase(app, scenario, 20, 10, 30.0, f"{name} warm-up")
                    out: dict[str, Any] = {}
                    out["burst"] = run_phase(app, scenario, args.burst, args.burst, 30.0,
                                             f"{name} {args.burst} at once")
                    print("  " + describe(out["burst"]), flush=True)
                    out["load"] = run_phase(app, scenario, args.requests, args.concurrency,
                                            args.cap, f"{name} {args.requests} at "
                                            f"{args.concurrency} in flight")
                    print("  " + describe(out["load"]), flush=True)
                    results[name] = out
        finally:
            fake.stop()
    record = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "plan": {"requests": args.requests, "concurrency": args.concurrency,
                 "burst": args.burst, "latency": args.latency, "cap": args.cap},
        "machine": costs.machine(),
        "stacks": results,
    }
    if not args.quick:
        args.out.write_text(json.dumps(record, indent=1, ensure_ascii=False))
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
