"""Closed-loop load generator for ``scripts/bench.py`` (run as its own process).

``concurrency`` workers each send ``POST <url>`` with a JSON body, one after another, until
``requests`` have been sent or ``--cap`` seconds have passed; then it prints one JSON line with
the counts and latencies on stdout. Progress goes to stderr once a second. It runs in its own
process (on uvloop) so that its CPU is not charged to the server under test.

    python scripts/bench_load.py --url http://127.0.0.1:8000/api/llm --requests 2000 \
        --concurrency 500 --cap 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class Tally:
    """What the workers saw."""

    latencies: list[float] = field(default_factory=list)  # every HTTP 200
    ok: int = 0
    degraded: int = 0  # 200, but the app fell back to offline text
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    issued: int = 0

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


async def _worker(
    session: aiohttp.ClientSession, url: str, body: bytes, total: int, tally: Tally
) -> None:
    headers = {"Content-Type": "application/json"}
    while tally.issued < total:
        tally.issued += 1
        start = time.perf_counter()
        try:
            async with session.post(url, data=body, headers=headers) as resp:
                payload = await resp.read()
                elapsed = time.perf_counter() - start
                if resp.status != 200:
                    tally.error(f"http_{resp.status}")
                    continue
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any transport failure counts as one error of its kind
            tally.error(type(exc).__name__)
            continue
        try:
            degraded = bool(json.loads(payload).get("degraded", False))
        except ValueError:
            tally.error("bad_json")
            continue
        tally.latencies.append(elapsed)
        if degraded:
            tally.degraded += 1
        else:
            tally.ok += 1


async def _progress(tally: Tally, total: int, label: str) -> None:
    while True:
        await asyncio.sleep(1.0)
        done = tally.ok + tally.degraded + tally.errors
        print(f"  {label}: {done}/{total} done, {tally.errors} errors", file=sys.stderr,
              flush=True)


async def run_load(
    url: str, requests: int, concurrency: int, cap: float, prompt: str, label: str
) -> dict[str, Any]:
    """Drive the load; returns the summary printed as JSON."""
    tally = Tally()
    body = json.dumps({"prompt": prompt}).encode()
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=cap + 5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        workers = [
            asyncio.create_task(_worker(session, url, body, requests, tally))
            for _ in range(min(concurrency, requests))
        ]
        reporter = asyncio.create_task(_progress(tally, requests, label))
        _, pending = await asyncio.wait(workers, timeout=cap)
        wall = time.perf_counter() - start
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        reporter.cancel()
    done = tally.ok + tally.degraded + tally.errors
    lat = sorted(tally.latencies)
    cpu = time.process_time()
    return {
        "requests": requests,
        "concurrency": concurrency,
        "finished": not pending and done == requests,
        "wall_s": wall,
        "ok": tally.ok,
        "degraded": tally.degraded,
        "errors": tally.errors,
        "error_kinds": tally.error_kinds,
        # LLM answers per second: degraded (offline) answers don't count.
        "rps": tally.ok / wall if wall > 0 else 0.0,
        "p50_s": percentile(lat, 50),
        "p99_s": percentile(lat, 99),
        "max_s": lat[-1] if lat else None,
        "loadgen_cpu_s": cpu,  # this process's own CPU (start-up included)
    }


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--requests", type=int, required=True)
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--cap", type=float, default=60.0, help="stop after this many seconds")
    p.add_argument("--prompt", default="以一句话描写山门前的晨雾。")
    p.add_argument("--label", default="load")
    args = p.parse_args(argv)
    load = run_load(args.url, args.requests, args.concurrency, args.cap, args.prompt, args.label)
    try:
        import uvloop
    except ImportError:  # plain asyncio works, only with more client CPU
        summary = asyncio.run(load)
    else:
        summary = uvloop.run(load)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
