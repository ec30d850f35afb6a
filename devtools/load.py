"""The closed-loop load generator of every benchmark (aiohttp, on uvloop when available).

``concurrency`` slots each send one request after another until ``requests`` have been sent
or ``cap`` seconds have passed, then one JSON line with the counts and latencies is printed
on stdout (progress goes to stderr once a second). Two scenarios:

- ``llm``: ``POST /api/llm {"prompt"}``; a 200 whose body says ``degraded`` (the offline
  fallback) is counted apart from the LLM answers.
- ``actions``: each slot first creates its own cultivator, then sends game actions for it
  (talk to the village elder, which the rules always accept and the LLM narrates), so every
  request is a full action: load, rules, commit, narrate, save. ``degraded`` is the
  narration's flag.

Benchmarks run it in its own process (:func:`run_in_process`) so that its CPU is not charged
to the server under test::

    python -m devtools.load --base http://127.0.0.1:8000 --scenario llm \\
        --requests 2000 --concurrency 500 --cap 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

DEFAULT_PROMPT = "以一句话描写山门前的晨雾。"
TALK_NPC = "li_laohan"  # data/npcs.json: talking to him is always accepted and repeatable
SCENARIOS = ("llm", "actions")


@dataclass
class Tally:
    """What the slots saw."""

    latencies: list[float] = field(default_factory=list)  # every HTTP 200
    ok: int = 0
    degraded: int = 0  # 200, but the app fell back to offline text
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    issued: int = 0

    def error(self, kind: str) -> None:
        """Count one failed request of ``kind``."""
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Request:
    """One request a slot sends over and over, and how to read its answer."""

    path: str
    body: bytes
    headers: dict[str, str]
    degraded: Callable[[Any], bool]


async def _new_player(http: aiohttp.ClientSession, base: str, slot: int) -> tuple[str, str]:
    """A cultivator for one slot (the server's creation limit must allow one per slot)."""
    async with http.post(f"{base}/api/players", json={"name": f"压测{slot}"}) as resp:
        if resp.status not in (200, 201):
            raise RuntimeError(f"creating a player answered {resp.status}: {await resp.text()}")
        created = await resp.json()
    return str(created["player"]["id"]), str(created["token"])


async def llm_setup(http: aiohttp.ClientSession, base: str, slot: int,
                    prompt: str = DEFAULT_PROMPT) -> Request:
    """``POST /api/llm`` as a player (the route needs a player's bearer token)."""
    _, token = await _new_player(http, base, slot)
    return Request("/api/llm", json.dumps({"prompt": prompt}).encode(),
                   {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                   lambda body: bool(body.get("degraded", False)))


async def actions_setup(http: aiohttp.ClientSession, base: str, slot: int,
                        prompt: str = DEFAULT_PROMPT) -> Request:
    """A new cultivator for this slot; then ``talk`` actions for it."""
    pid, token = await _new_player(http, base, slot)
    body = {"type": "talk", "target": TALK_NPC, "text": "前辈，请指点修行。"}
    return Request(f"/api/players/{pid}/actions", json.dumps(body, ensure_ascii=False).encode(),
                   {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                   lambda answer: bool(answer["narration"]["degraded"]))


SETUPS: dict[str, Callable[..., Awaitable[Request]]] = {
    "llm": llm_setup, "actions": actions_setup}


async def _slot(http: aiohttp.ClientSession, base: str, req: Request, total: int,
                deadline: float, tally: Tally) -> None:
    url = base + req.path
    while tally.issued < total and time.perf_counter() < deadline:
        tally.issued += 1
        start = time.perf_counter()
        try:
            async with http.post(url, data=req.body, headers=req.headers) as resp:
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
            degraded = req.degraded(json.loads(payload))
        except (ValueError, KeyError, TypeError):
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


async def run_load(base: str, requests: int, concurrency: int, cap: float, *,
                   scenario: str = "llm", prompt: str = DEFAULT_PROMPT,
                   label: str = "load") -> dict[str, Any]:
    """Drive the load against ``base`` (the app's URL); returns the summary."""
    tally = Tally()
    slots = max(1, min(concurrency, requests))
    connector = aiohttp.TCPConnector(limit=slots + 10, limit_per_host=slots + 10)
    timeout = aiohttp.ClientTimeout(total=cap + 5)
    setup = SETUPS[scenario]
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        reqs = await asyncio.gather(*(setup(http, base, i, prompt) for i in range(slots)))
        start = time.perf_counter()
        workers = [asyncio.create_task(_slot(http, base, req, requests, start + cap, tally))
                   for req in reqs]
        reporter = asyncio.create_task(_progress(tally, requests, label))
        _, pending = await asyncio.wait(workers, timeout=cap + 1)
        wall = time.perf_counter() - start
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        reporter.cancel()
    done = tally.ok + tally.degraded + tally.errors
    lat = sorted(tally.latencies)
    return {
        "scenario": scenario,
        "requests": requests,
        "concurrency": concurrency,
        "finished": not pending and done == requests,
        "wall_s": wall,
        "ok": tally.ok,
        "degraded": tally.degraded,
        "errors": tally.errors,
        "error_kinds": tally.error_kinds,
        # LLM answers per second: degraded (offline) answers don't count here...
        "rps": tally.ok / wall if wall > 0 else 0.0,
        # ...but they are served requests (for actions: committed actions).
        "served_rps": (tally.ok + tally.degraded) / wall if wall > 0 else 0.0,
        "p50_s": percentile(lat, 50),
        "p99_s": percentile(lat, 99),
        "max_s": lat[-1] if lat else None,
        "loadgen_cpu_s": time.process_time(),  # this process's own CPU (start-up included)
    }


def run_in_process(base: str, requests: int, concurrency: int, cap: float, *,
                   scenario: str = "llm", prompt: str = DEFAULT_PROMPT,
                   label: str = "load") -> dict[str, Any]:
    """:func:`run_load` in a child process (its progress goes to our stderr)."""
    cmd = [sys.executable, "-m", "devtools.load", "--base", base, "--scenario", scenario,
           "--requests", str(requests), "--concurrency", str(concurrency),
           "--cap", f"{cap:.1f}", "--prompt", prompt, "--label", label]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, timeout=cap + 90, check=True)
    summary: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return summary


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    p = argparse.ArgumentParser(description="Closed-loop load against one app.")
    p.add_argument("--base", required=True, help="the app's URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--scenario", choices=SCENARIOS, default="llm")
    p.add_argument("--requests", type=int, required=True)
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--cap", type=float, default=60.0, help="stop after this many seconds")
    p.add_argument("--prompt", default=DEFAULT_PROMPT)
    p.add_argument("--label", default="load")
    args = p.parse_args(argv)
    load = run_load(args.base.rstrip("/"), args.requests, args.concurrency, args.cap,
                    scenario=args.scenario, prompt=args.prompt, label=args.label)
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
