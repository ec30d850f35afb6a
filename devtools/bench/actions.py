"""Game actions under load against quart_app on hypercorn (or legacy_flask on gunicorn).

    .venv/bin/python -m devtools.bench actions [--actions 2000] [--concurrency 500]
        [--latency 1.0] [--scenario mix|actions] [--db sqlite|postgresql] [--workers 1]
        [--app quart|flask] [--quick]

Starts the fake DeepSeek server and the app as real processes on 127.0.0.1 (a fresh SQLite
file, or a fresh PostgreSQL database dropped afterwards), then runs a :mod:`devtools.load`
scenario in a child process (so its CPU is not charged to the server). ``mix`` (the default):
one cultivator per in-flight slot, each playing explore, cultivate, talk, sell and buy at the
village shop (and answering the choices explorations open); ``actions``: talk only. Every
served request is a full action: load, rules, commit, budgets, narrate, save.

The limits run as shipped (rate counters and LLM budgets are counted on every action), with
their ceilings raised so that a benchmark's 500 players from one address are not refused:
what is measured is their cost, not their verdict. :func:`run_phase` and :func:`app_stack`
are what ``devtools.bench targets`` and ``devtools.bench rss`` run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools import costs, load, procs

BENCH_REDIS_URL = "redis://127.0.0.1:6379/13"  # tests use 15, the stacks benchmark 14
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
# Ceilings that a benchmark never reaches: the counters still run on every request.
LIMITS_RAISED = {
    "CREATE_RATE_PER_MINUTE": "1000000",
    "ACTION_RATE_PER_MINUTE": "1000000",
    "LLM_RATE_PER_MINUTE": "1000000",
    "LLM_PLAYER_DAILY_TOKENS": "1000000000",
    "LLM_GLOBAL_MINUTE_TOKENS": "1000000000000",
    "LLM_GLOBAL_DAILY_TOKENS": "1000000000000",
}
MULTI_WORKER_SPEC = "deploy/hypercorn_app.py:create_app()"  # workers die with their master


@dataclass
class Running:
    """A started app: its URL and processes (the CPU and RSS of their trees are measured)."""

    base_url: str
    procs: list[procs.Proc]
    label: str


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database on the machine's server, dropped afterwards."""
    import psycopg

    name = f"xianxia_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_env(fake_url: str, run_dir: Path, database_url: str, backend: str = "httpx",
              redis_url: str = BENCH_REDIS_URL) -> dict[str, str]:
    """The app's environment for a benchmark: the fake upstream, its own store, limits raised."""
    return {
        "DATABASE_URL": database_url,
        "DEEPSEEK_API_KEY": "sk-bench",
        "DEEPSEEK_BASE_URL": fake_url,
        "LLM_BACKEND": backend,
        "REDIS_URL": redis_url,
        "CELERY_QUEUE": f"bench-actions-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
        "XIANXIA_RUNTIME_DIR": str(run_dir),
        **LIMITS_RAISED,
    }


@contextlib.contextmanager
def app_stack(run_dir: Path, fake: procs.FakeDeepSeek, *, db: str = "sqlite", workers: int = 1,
              app: str = "quart", name: str = "app") -> Iterator[Running]:
    """quart_app on hypercorn with ``workers`` event loops (1: hypercorn's own process, as
    scripts/stack.sh runs it), or legacy_flask as shipped; on a fresh store."""
    with contextlib.ExitStack() as stack:
        if db == "postgresql":
            url = stack.enter_context(postgres_database())
        else:
            url = f"sqlite:///{run_dir / (name + '.db')}"
        env = bench_env(fake.base_url, run_dir, url)
        port = procs.free_port()
        cmd: list[str] | None = None
        if app == "quart":
            config = str(procs.ROOT / "deploy/hypercorn.toml")
            cmd = [str(procs.BIN / "hypercorn"), "--config", config,
                   "--workers", "0" if workers <= 1 else str(workers),
                   "--bind", f"127.0.0.1:{port}",
                   "quart_app:create_app()" if workers <= 1 else MULTI_WORKER_SPEC]
            if workers > 1:
                prom = run_dir / f"prometheus-{name}"
                prom.mkdir(parents=True, exist_ok=True)
                env["PROMETHEUS_MULTIPROC_DIR"] = str(prom)
        server = procs.start_app(app, env, run_dir, port=port, cmd=cmd, name=name)
        try:
            yield Running(server.base_url, [server.proc],
                          f"{app} x{workers} on {db}" if app == "quart" else f"{app} on {db}")
        finally:
            server.stop(timeout=30.0)


def run_phase(running: Running, scenario: str, requests: int, concurrency: int, cap: float,
              label: str) -> dict[str, Any]:
    """One load phase; the load generator's summary plus the server's CPU, RSS and the load
    average. ``cpu_ms`` is server CPU per served request, from the moment the slots are set up
    (creating the players is left out)."""
    load1 = os.getloadavg()[0]
    before = costs.cpu_seconds(running.procs)
    started = [before]
    gc_started: list[float | None] = [None]

    def measured_from_here() -> None:
        started[0] = costs.cpu_seconds(running.procs)
        gc_started[0] = costs.gc_seconds(running.base_url)

    summary = load.run_in_process(running.base_url, requests, concurrency, cap,
                                  scenario=scenario, label=label, on_started=measured_from_here)
    cpu = costs.cpu_used(started[0], costs.cpu_seconds(running.procs))
    gc_now = costs.gc_seconds(running.base_url)
    served = summary["ok"] + summary["degraded"]
    summary.update({
        "label": label,
        "served": served,
        "cpu_s": cpu,
        "cpu_ms": 1000 * cpu / served if served else None,
        # What of that CPU the garbage collector took (xianxia_gc_seconds_total's increase).
        "gc_s": (gc_now - gc_started[0]
                 if gc_now is not None and gc_started[0] is not None else None),
        "rss_bytes": costs.rss_bytes(running.procs),
        "loadavg_before": load1,
        "loadavg_after": os.getloadavg()[0],
    })
    return summary


def describe(s: dict[str, Any]) -> str:
    """One line for a phase."""
    p99 = f"{s['p99_s']:.2f}" if s.get("p99_s") is not None else "-"
    cpu = f"{s['cpu_ms']:.2f}" if s.get("cpu_ms") is not None else "-"
    refused = f", {s['refused']} refused by the rules" if s.get("refused") else ""
    gc_time = f" (GC {s['gc_s']:.2f} s)" if s.get("gc_s") is not None else ""
    return (f"{s['label']}: {s['served']} served ({s['degraded']} degraded), {s['errors']} errors"
            f"{refused}; {s['served_rps']:.0f}/s, p50 {s['p50_s'] or 0:.2f} s, p99 {p99} s, "
            f"{cpu} ms CPU each{gc_time}; load avg {s['loadavg_before']:.1f}->"
            f"{s['loadavg_after']:.1f}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--actions", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=500)
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--scenario", choices=("mix", "actions"), default="mix")
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--workers", type=int, default=1, help="hypercorn event loops (quart)")
    ap.add_argument("--app", choices=("quart", "flask"), default="quart")
    ap.add_argument("--cap", type=float, default=120.0, help="seconds before the load stops")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 200 actions at 50 in flight, 0.2 s latency")
    args = ap.parse_args(argv)
    if args.quick:
        args.actions, args.concurrency, args.latency, args.cap = 200, 50, 0.2, 30.0

    run_dir = Path(tempfile.mkdtemp(prefix="bench-actions-"))
    fake = procs.start_fake(run_dir, latency=args.latency, max_seconds=args.cap + 300)
    try:
        with app_stack(run_dir, fake, db=args.db, workers=args.workers, app=args.app) as app:
            print(f"{app.label} on {app.base_url}; fake upstream latency {args.latency}s; "
                  f"{args.actions} actions ({args.scenario}) at {args.concurrency} in flight",
                  file=sys.stderr)
            s = run_phase(app, args.scenario, args.actions, args.concurrency, args.cap,
                          app.label)
    finally:
        fake.stop()
    ideal = args.actions / args.concurrency * max(args.latency, 1e-9)
    print(describe(s))
    print(f"wall {s['wall_s']:.2f} s (ideal {ideal:.1f} s); errors {s['error_kinds'] or 0}; "
          f"refused {s['refused_kinds'] or 0}; server RSS {s['rss_bytes'] / 2**20:.0f} MiB; "
          f"logs {run_dir}")
    return 0 if s["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
