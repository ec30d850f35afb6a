"""Benchmark DeepSeekClient.chat_async per async transport against the fake DeepSeek.

Starts the fake DeepSeek (:mod:`devtools.fake_deepseek`) in a subprocess (latency 1 s by
default), then, in this process, makes N ``chat_async`` calls with C in flight for each
transport and prints wall time, errors, latency percentiles and CPU ms per call. CPU is
``time.process_time()`` of this client process only (the fake is another process), measured
after a warm-up, so imports, start-up and (by default) opening the connection pool are
excluded. Target (2,000 calls, 500 in flight, 1 s): 0 errors, wall within 10% of the ideal
4.0 s, CPU at most 0.5 ms per call. ``raw-aiohttp`` is a bare aiohttp reference floor, not
our client.

    .venv/bin/python -m devtools.bench llm-client
    .venv/bin/python -m devtools.bench llm-client --transports aiohttp httpx-aiohttp httpx \
        raw-aiohttp
    .venv/bin/python -m devtools.bench llm-client --loop uvloop --profile aiohttp
    .venv/bin/python -m devtools.bench llm-client --quick
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.procs import start_fake
from shared.ai import DeepSeekClient, LLMError
from shared.config import Settings


@dataclass
class Run:
    """What one transport did."""

    transport: str
    calls: int
    concurrency: int
    wall: float
    cpu: float
    errors: int
    latencies: list[float]

    def row(self, ideal: float) -> str:
        lat = sorted(self.latencies) or [0.0]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        return (f"{self.transport:<14}{self.calls:>7}{self.concurrency:>7}{self.wall:>9.2f}"
                f"{ideal:>8.2f}{self.wall / ideal * 100 - 100:>+8.1f}%{self.errors:>8}"
                f"{self.cpu * 1000 / self.calls:>10.3f}{statistics.median(lat):>8.2f}{p99:>8.2f}")


HEADER = (f"{'transport':<14}{'calls':>7}{'conc':>7}{'wall_s':>9}{'ideal':>8}{'over':>9}"
          f"{'errors':>8}{'cpu_ms/call':>10}{'p50_s':>8}{'p99_s':>8}")


class RawAiohttp:
    """Reference floor: the same POST on a bare aiohttp.ClientSession (no retries, no
    deadline, no breaker, no httpx objects). Not a DeepSeekClient."""

    def __init__(self, base_url: str, connections: int) -> None:
        import aiohttp

        self.url = base_url + "/chat/completions"
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))

    async def chat_async(self, prompt: str) -> str:
        import json

        body = {"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": prompt}],
                "thinking": {"type": "disabled"}, "max_tokens": 400, "stream": False}
        async with self.session.post(self.url, data=json.dumps(body).encode(), headers={
                "Authorization": "Bearer sk-bench", "Content-Type": "application/json"}) as r:
            payload = json.loads(await r.read())
        if r.status != 200:
            raise LLMError(f"HTTP {r.status}")
        return str(payload["choices"][0]["message"]["content"])

    async def aclose(self) -> None:
        await self.session.close()


async def measure(transport: str, base_url: str, calls: int, concurrency: int,
                  warmup: int, profile: bool) -> Run:
    """Warm up, then ``calls`` calls with ``concurrency`` in flight on one client."""
    client: Any
    if transport == "raw-aiohttp":
        client = RawAiohttp(base_url, max(512, concurrency))
    else:
        client = DeepSeekClient(Settings(
            deepseek_api_key="sk-bench-0000000000", deepseek_base_url=base_url,
            llm_transport=transport, llm_max_concurrency=max(512, concurrency),
            llm_total_timeout=120.0, llm_read_timeout=60.0, log_level="WARNING",
        ))
    await asyncio.gather(*(client.chat_async(f"热身{i}") for i in range(warmup)))

    latencies: list[float] = []
    errors = 0
    next_index = iter(range(calls))

    async def worker() -> None:
        nonlocal errors
        for i in next_index:
            t0 = time.perf_counter()
            try:
                await client.chat_async(f"第{i}次问道")
            except LLMError:
                errors += 1
            latencies.append(time.perf_counter() - t0)

    profiler: Any = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled")
        profiler.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if profiler is not None:
        profiler.stop()
        show_all = os.environ.get("PROFILE_ALL") == "1"  # every frame, aiohttp's included
        print(profiler.output_text(unicode=True, color=False, show_all=show_all))
    await client.aclose()
    return Run(transport, calls, concurrency, wall, cpu, errors, latencies)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one row per transport."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=500)
    p.add_argument("--latency", type=float, default=1.0)
    p.add_argument("--warmup", type=int, default=None,
                   help="calls before measuring (default: --concurrency, which opens the "
                        "whole pool as a running app has it; 0 measures a cold pool)")
    p.add_argument("--transports", nargs="+", default=["aiohttp", "httpx"],
                   choices=["aiohttp", "httpx", "httpx-aiohttp", "raw-aiohttp"],
                   help="client transports; raw-aiohttp is a bare-aiohttp reference floor")
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    p.add_argument("--repeat", type=int, default=1, help="runs per transport")
    p.add_argument("--profile", nargs="*", default=[], help="transports to profile")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 200 calls at 50 in flight, 0.2 s latency")
    args = p.parse_args(argv)
    if args.quick:
        args.calls, args.concurrency, args.latency = 200, 50, 0.2
    if args.warmup is None:
        args.warmup = args.concurrency
    # Failures are counted in the table; one log line each would only add noise (and CPU).
    logging.getLogger("xianxia").setLevel(logging.CRITICAL)

    with tempfile.TemporaryDirectory() as tmp:
        fake = start_fake(Path(tmp), latency=args.latency, max_seconds=900)
        base_url = fake.base_url
        try:
            ideal = args.calls / args.concurrency * args.latency
            print(f"fake DeepSeek at {base_url}, latency {args.latency}s, loop {args.loop}, "
                  f"{args.warmup} warm-up calls not measured, python {sys.version.split()[0]}")
            print(HEADER)
            failed = False
            for _ in range(args.repeat):
                for transport in args.transports:
                    coro = measure(transport, base_url, args.calls, args.concurrency,
                                   args.warmup, transport in args.profile)
                    if args.loop == "uvloop":
                        import uvloop

                        run = uvloop.run(coro)
                    else:
                        run = asyncio.run(coro)
                    print(run.row(ideal), flush=True)
                    failed |= run.errors > 0
        finally:
            fake.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
