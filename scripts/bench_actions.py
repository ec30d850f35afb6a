"""Game actions under load against one hypercorn worker of quart_app (issue target:
>= 250 actions/s, p99 <= 2.5 s, 0 errors for 2,000 actions at 500 in flight, upstream 1 s).

    .venv/bin/python scripts/bench_actions.py [--actions 2000] [--concurrency 500]
        [--latency 1.0] [--app quart|flask]

Starts the fake DeepSeek server and the app as real processes on 127.0.0.1 (fresh SQLite
file), creates one cultivator per in-flight slot, then each slot sends actions for its own
player (talk to the village elder, which the rules always accept and the LLM narrates), so
every request is a full action: load, rules, commit, narrate, save. The load generator runs
in a child process so its CPU is not charged to the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_procs as procs

NPC = "li_laohan"


# -- the load generator (child process) --------------------------------------------------------


async def _load(base: str, actions: int, concurrency: int, cap: float) -> dict[str, Any]:
    import aiohttp

    conn = aiohttp.TCPConnector(limit=concurrency + 10)
    timeout = aiohttp.ClientTimeout(total=60)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    degraded = 0
    issued = 0
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as http:

        async def create(i: int) -> tuple[str, str]:
            async with http.post(f"{base}/api/players", json={"name": f"压测{i}"}) as r:
                body = await r.json()
                return body["player"]["id"], body["token"]

        players = await asyncio.gather(*(create(i) for i in range(concurrency)))
        started = time.perf_counter()
        deadline = started + cap

        async def slot(pid: str, token: str) -> None:
            nonlocal issued, degraded
            headers = {"Authorization": f"Bearer {token}"}
            body = {"type": "talk", "target": NPC, "text": "前辈，请指点修行。"}
            while issued < actions and time.perf_counter() < deadline:
                issued += 1
                t0 = time.perf_counter()
                try:
                    async with http.post(f"{base}/api/players/{pid}/actions", json=body,
                                         headers=headers) as r:
                        payload = await r.read()
                        if r.status != 200:
                            key = f"http {r.status}"
                            errors[key] = errors.get(key, 0) + 1
                            continue
                        latencies.append(time.perf_counter() - t0)
                        if json.loads(payload)["narration"]["degraded"]:
                            degraded += 1
                except Exception as exc:  # counted, not fatal: the report shows the kinds
                    key = type(exc).__name__
                    errors[key] = errors.get(key, 0) + 1

        async def progress() -> None:
            while True:
                await asyncio.sleep(1)
                print(f"  {len(latencies)}/{actions} ok, {sum(errors.values())} errors",
                      file=sys.stderr, flush=True)

        ticker = asyncio.create_task(progress())
        await asyncio.gather(*(slot(pid, tok) for pid, tok in players))
        ticker.cancel()
        wall = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))]

    return {"ok": len(latencies), "errors": errors, "degraded": degraded, "wall": wall,
            "rps": len(latencies) / wall if wall else 0.0, "p50": pct(50), "p99": pct(99)}


def _load_main(argv: list[str]) -> int:
    base, actions, concurrency, cap = argv[0], int(argv[1]), int(argv[2]), float(argv[3])
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(_load(base, actions, concurrency, cap))))
    return 0


# -- the benchmark (parent) --------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--actions", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=500)
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--app", choices=("quart", "flask"), default="quart")
    ap.add_argument("--cap", type=float, default=120.0, help="seconds before the load stops")
    args = ap.parse_args()

    run_dir = Path(tempfile.mkdtemp(prefix="bench-actions-"))
    stack_name = "quart-httpx" if args.app == "quart" else "flask"
    fake = procs.start_fake(run_dir, args.latency, max_seconds=args.cap + 300)
    env = procs.stack_env(stack_name, fake.base_url, run_dir, "redis://127.0.0.1:6379/15")
    stack = None
    try:
        stack = procs.start_stack(stack_name, env, run_dir, worker_threads=4)
        print(f"{stack_name} on {stack.base_url}; fake upstream latency {args.latency}s; "
              f"{args.actions} actions at {args.concurrency} in flight", file=sys.stderr)
        before = procs.cpu_seconds(stack.procs)
        load = subprocess.run(
            [sys.executable, __file__, "--load-child", stack.base_url, str(args.actions),
             str(args.concurrency), str(args.cap)],
            stdout=subprocess.PIPE, text=True, timeout=args.cap + 120, check=True,
        )
        cpu = procs.cpu_used(before, procs.cpu_seconds(stack.procs))
        result = json.loads(load.stdout.strip().splitlines()[-1])
        rss = procs.rss_bytes(stack.procs)
    finally:
        if stack is not None:
            stack.stop()
        fake.proc.stop()
    ok = result["ok"]
    ideal = args.actions / args.concurrency * max(args.latency, 1e-9)
    print(f"actions ok        {ok} / {args.actions}  (errors: {result['errors'] or 0}, "
          f"degraded: {result['degraded']})")
    print(f"wall              {result['wall']:.2f} s  (ideal {ideal:.1f} s)")
    print(f"throughput        {result['rps']:.0f} actions/s  (target >= 250)")
    print(f"latency p50/p99   {result['p50']:.3f} s / {result['p99']:.3f} s  (target p99 <= 2.5)")
    print(f"server CPU        {cpu:.2f} s = {1000 * cpu / max(ok, 1):.2f} ms per action "
          "(includes player creation)")
    print(f"server RSS        {rss / 2**20:.0f} MiB")
    print(f"logs              {run_dir}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--load-child":
        sys.exit(_load_main(sys.argv[2:]))
    sys.exit(main())
