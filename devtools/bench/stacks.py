"""Side-by-side benchmark of the LLM call strategies; writes docs/evaluation.md.

    .venv/bin/python -m devtools.bench stacks [--quick] [--stacks flask,quart-httpx,...]

Starts the fake DeepSeek server and, one after another, each stack as real processes on
127.0.0.1 (legacy_flask on gunicorn gthread as the baseline; quart_app on one hypercorn
worker with LLM_BACKEND=httpx, threadpool and celery, plus the Celery worker), each with a
fresh SQLite file. The closed-loop load generator in its own process
(:mod:`devtools.load`, scenario ``llm``) drives ``POST /api/llm``. Per stack, in this order:

1. upstream latency 0: warm-up, then requests up to 1,000 (RSS read), 5,000 more at 64 in
   flight (throughput, p50/p99, CPU), then up to 20,000 in all (RSS read again);
2. upstream latency 1 s: 50 requests at once (wall time), a concurrency sweep at 50 and 200
   in flight, and 2,000 requests at 500 in flight (throughput, p50/p99, errors, CPU).

Every phase has a time cap; a stack that cannot finish a phase is reported as "did not
finish" with what it did. The whole run is bounded by ``--budget`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devtools import costs, load, procs
from devtools.bench.report import write_report

PROMPT = "以一句话描写山门前的晨雾。"
BENCH_REDIS_URL = "redis://127.0.0.1:6379/14"  # tests use db 15; the bench keeps out of it


@dataclass(frozen=True)
class Plan:
    """Request counts, concurrency and time caps of one run."""

    warmup: int = 20
    rss_first: int = 1_000
    overhead: int = 5_000
    overhead_conc: int = 64
    rss_total: int = 20_000
    burst: int = 50
    load: int = 2_000
    load_conc: int = 500
    sweep: tuple[int, ...] = (50, 200)
    sweep_factor: int = 4  # requests per sweep point = factor x concurrency
    latency: float = 1.0
    cap_fast: float = 90.0  # per phase at latency 0
    cap_slow: float = 60.0  # per phase at 1 s latency
    # Celery workers: 8 x 64 threads holds 500 calls in flight. One process with 512 threads
    # measured 3x the CPU per task (GIL and one big HTTP pool); see docs/evaluation.md.
    worker_procs: int = 8
    worker_threads: int = 64


QUICK = Plan(warmup=10, rss_first=300, overhead=1_000, rss_total=3_000, load=1_000,
             sweep_factor=2, cap_fast=30.0, cap_slow=20.0)


class Budget:
    """The run's deadline; each phase's cap shrinks so later phases still get time."""

    def __init__(self, seconds: float, phases: int) -> None:
        self.deadline = time.monotonic() + seconds
        self.phases_left = phases

    def cap(self, wanted: float) -> float:
        self.phases_left = max(0, self.phases_left - 1)
        reserve = 10.0 * self.phases_left
        return max(5.0, min(wanted, self.deadline - time.monotonic() - reserve))


def run_load(base: str, requests: int, concurrency: int, cap: float,
             label: str) -> dict[str, Any]:
    """One ``POST /api/llm`` load phase in a separate process."""
    return load.run_in_process(base, requests, concurrency, cap, scenario="llm", prompt=PROMPT,
                               label=label)


def measured(stack: procs.Stack, fake: procs.FakeDeepSeek, url: str, requests: int,
             concurrency: int, cap: float, label: str, with_redis: bool) -> dict[str, Any]:
    """A load phase plus the CPU the stack's processes (and Redis, for Celery) spent on it,
    and how busy the whole machine was meanwhile (the upstream, the load generator, others).
    """
    before = costs.cpu_seconds(stack.procs)
    split_before = costs.cpu_by_proc(stack.procs)
    redis_before = costs.redis_cpu_seconds() if with_redis else None
    fake_before = sum(costs.cpu_seconds([fake.proc]).values())
    machine_before = costs.machine_busy_seconds()
    summary = run_load(url, requests, concurrency, cap, label)
    machine = costs.machine_busy_seconds() - machine_before
    summary["fake_cpu_s"] = sum(costs.cpu_seconds([fake.proc]).values()) - fake_before
    summary["machine_busy_cores"] = machine / summary["wall_s"] if summary["wall_s"] else None
    after = costs.cpu_seconds(stack.procs)
    split_after = costs.cpu_by_proc(stack.procs)
    redis_after = costs.redis_cpu_seconds() if with_redis else None
    served = summary["ok"] + summary["degraded"]
    cpu = costs.cpu_used(before, after)
    summary["cpu_s"] = cpu
    summary["cpu_ms_per_req"] = 1000 * cpu / served if served else None
    summary["cpu_split_s"] = {k: split_after[k] - split_before.get(k, 0.0) for k in split_after}
    if redis_before is not None and redis_after is not None:
        summary["redis_cpu_s"] = redis_after - redis_before
    _say(label, summary)
    return summary


def _say(label: str, s: dict[str, Any]) -> None:
    p99 = f"{s['p99_s']:.2f}s" if s.get("p99_s") is not None else "-"
    cpu = f", CPU {s['cpu_ms_per_req']:.2f} ms/req" if s.get("cpu_ms_per_req") else ""
    state = "" if s["finished"] else "  [DID NOT FINISH]"
    print(f"  {label}: {s['ok']} ok, {s['degraded']} degraded, {s['errors']} errors in "
          f"{s['wall_s']:.2f}s = {s['rps']:.0f} req/s, p99 {p99}{cpu}{state}", flush=True)


def bench_stack(
    name: str, plan: Plan, fake: procs.FakeDeepSeek, run_dir: Path, budget: Budget
) -> dict[str, Any]:
    """Run every phase against one stack; returns its numbers."""
    print(f"== {name}", flush=True)
    env = procs.stack_env(name, fake.base_url, run_dir, BENCH_REDIS_URL)
    fake.set_latency(0.0)
    stack = procs.start_stack(name, env, run_dir, plan.worker_threads, plan.worker_procs)
    url = stack.base_url
    out_procs = costs.process_count(stack.procs)
    celery = procs.STACKS[name]["backend"] == "celery"
    out: dict[str, Any] = {"stack": name, "env": {k: v for k, v in env.items()
                                                  if k != "DEEPSEEK_API_KEY"},
                           "loadavg_before": os.getloadavg()[0], "processes": out_procs}
    try:
        c = plan.overhead_conc
        run_load(url, plan.warmup, min(plan.warmup, c), budget.cap(30.0), f"{name} warm-up")
        first = run_load(url, plan.rss_first - plan.warmup, c, budget.cap(plan.cap_fast),
                         f"{name} to {plan.rss_first}")
        sent = plan.rss_first
        out["rss_first"] = {"after": sent, "bytes": costs.rss_bytes(stack.procs),
                            "finished": first["finished"]}
        out["overhead"] = measured(stack, fake, url, plan.overhead, c, budget.cap(plan.cap_fast),
                                   f"{name} {plan.overhead} at {c} in flight, 0 s", celery)
        sent += plan.overhead
        rest = run_load(url, plan.rss_total - sent, c, budget.cap(plan.cap_fast * 1.5),
                        f"{name} to {plan.rss_total}")
        out["rss_total"] = {"after": plan.rss_total, "bytes": costs.rss_bytes(stack.procs),
                            "finished": rest["finished"] and out["overhead"]["finished"],
                            "served": out["overhead"]["ok"] + out["overhead"]["degraded"]
                            + rest["ok"] + rest["degraded"] + plan.rss_first}

        fake.set_latency(plan.latency)
        out["burst"] = measured(stack, fake, url, plan.burst, plan.burst, budget.cap(15.0),
                                f"{name} {plan.burst} at once, {plan.latency:g} s", celery)
        out["sweep"] = {}
        for conc in plan.sweep:
            out["sweep"][str(conc)] = measured(
                stack, fake, url, conc * plan.sweep_factor, conc, budget.cap(plan.cap_slow / 2),
                f"{name} sweep {conc} in flight", celery)
        out["load"] = measured(stack, fake, url, plan.load, plan.load_conc,
                               budget.cap(plan.cap_slow),
                               f"{name} {plan.load} at {plan.load_conc} in flight, "
                               f"{plan.latency:g} s", celery)
        out["sweep"][str(plan.load_conc)] = out["load"]
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        out["failed"] = f"{type(exc).__name__}: {exc}"
        print(f"  {name} failed: {out['failed']}", flush=True)
    finally:
        out["loadavg_after"] = os.getloadavg()[0]
        for proc in stack.procs:
            if not proc.alive():
                out.setdefault("failed", f"{proc.name} died:\n{proc.log_tail()}")
        stack.stop()
        if celery:
            procs.drop_queue(BENCH_REDIS_URL, env["CELERY_QUEUE"])
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    p = argparse.ArgumentParser(description="Benchmark the LLM call strategies side by side.")
    p.add_argument("--quick", action="store_true", help="smaller counts (a smoke run)")
    p.add_argument("--stacks", default=",".join(procs.STACKS),
                   help=f"comma-separated subset of {', '.join(procs.STACKS)}")
    p.add_argument("--budget", type=float, default=840.0, help="seconds for the whole run")
    p.add_argument("--out", type=Path, default=procs.ROOT / "docs/evaluation.md")
    args = p.parse_args(argv)

    names = [s.strip() for s in args.stacks.split(",") if s.strip()]
    unknown = [n for n in names if n not in procs.STACKS]
    if unknown:
        p.error(f"unknown stacks {unknown}; choose from {', '.join(procs.STACKS)}")
    plan = QUICK if args.quick else Plan()
    started = time.time()
    budget = Budget(args.budget, phases=7 * len(names))
    with tempfile.TemporaryDirectory(prefix="xianxia-bench-") as tmp:
        run_dir = Path(tmp)
        fake = procs.start_fake(run_dir, latency=plan.latency, max_seconds=args.budget + 300)
        stacks: list[dict[str, Any]] = []
        try:
            for name in names:
                stacks.append(bench_stack(name, plan, fake, run_dir, budget))
        finally:
            fake.stop()
    from shared.config import Settings

    defaults = Settings.from_env({})
    results = {
        "plan": asdict(plan),
        "settings": {"llm_transport": defaults.llm_transport,
                     "llm_max_workers": defaults.llm_max_workers,
                     "llm_max_concurrency": defaults.llm_max_concurrency},
        "quick": args.quick,
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "duration_s": time.time() - started,
        "machine": costs.machine(),
        "stacks": stacks,
    }
    img = args.out.parent / "img"
    img.mkdir(parents=True, exist_ok=True)
    (img / "bench-results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    verdicts = write_report(results, args.out)
    print(f"\nran {results['duration_s']:.0f} s; wrote {args.out} and {img}/")
    for line in verdicts:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
