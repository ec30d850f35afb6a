"""The closed-loop load generator of every benchmark (aiohttp, on uvloop when available).

``concurrency`` slots each send one request after another until ``requests`` have been sent
or ``cap`` seconds have passed, then one JSON line with the counts and latencies is printed
on stdout (progress goes to stderr once a second). Two scenarios:

- ``llm``: ``POST /api/llm {"prompt"}`` with a player's bearer token (each slot creates a
  cultivator first); a 200 whose body says ``degraded`` (the offline fallback) is counted
  apart from the LLM answers.
- ``prompt``: the same request without a token, for the minimal apps of
  ``devtools.bench routes`` (which have no players).
- ``actions``: each slot first creates its own cultivator, then sends game actions for it
  (talk to the village elder, which the rules always accept and the LLM narrates), so every
  request is a full action: load, rules, commit, narrate, save. ``degraded`` is the
  narration's flag.
- ``mix``: as ``actions``, but each slot plays a round of explore, cultivate, talk, sell and
  buy at the village shop (slots start at different points of the round), and answers a
  choice an exploration opens with ``choose`` (its cheapest option), as a player would. A
  422/409 the rules answer (e.g. qi already full) is counted in ``refused``, apart from both
  the served actions and the errors.

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
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

DEFAULT_PROMPT = "以一句话描写山门前的晨雾。"
TALK_NPC = "li_laohan"  # data/npcs.json: talking to him is always accepted and repeatable
SCENARIOS = ("llm", "prompt", "actions", "mix")
SETUP_DONE = "load: set-up done"  # the stderr line between set-up and measured load
# The mix scenario's round: a sect or shop action among the others (data/shops.json: the
# village store at the start location sells and buys 回春丹, of which every cultivator starts
# with two).
MIX_ROUND: tuple[dict[str, Any], ...] = (
    {"type": "explore"},
    {"type": "cultivate"},
    {"type": "talk", "target": TALK_NPC, "text": "前辈，请指点修行。"},
    {"type": "sell", "item": "huichun_dan", "count": 1},
    {"type": "buy", "item": "huichun_dan", "count": 1},
)


@dataclass
class Tally:
    """What the slots saw."""

    latencies: list[float] = field(default_factory=list)  # every HTTP 200
    ok: int = 0
    degraded: int = 0  # 200, but the app fell back to offline text
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)  # the rules said no (409/422)
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


@dataclass
class Request:
    """One request a slot sends over and over, and how to read its answer.

    ``follow``, when set, picks the next body from the last answer (None: a refusal).
    """

    path: str
    body: bytes
    headers: dict[str, str]
    degraded: Callable[[Any], bool]
    follow: Callable[[Any], bytes] | None = None
    refused: Callable[[str], bytes] | None = None  # the next body after a refusal's code
    renew: Callable[[], Awaitable[Request]] | None = None  # a new player when a run ended


class MixPlayer:
    """The next action of one ``mix`` slot: the round in order, as a player would play it.

    A pending choice is answered first (its cheapest option); after a refusal the next
    action is what the rules asked for (``rest`` when knocked out, ``breakthrough`` when qi is
    full); the shop step sells 回春丹 while the cultivator has one and buys one back when the
    stones allow, else talks instead. A run that ended (``ended``) is replaced by a new
    cultivator (:attr:`Request.renew`).
    """

    SHOP_PRICE = 30  # enough stones for one 回春丹 at the village store's markup

    def __init__(self, start: int, player: dict[str, Any] | None = None) -> None:
        self.step = start
        # What the player sees of the cultivator (its creation answer first): a player does not
        # try to buy with stones it does not have.
        self.player: dict[str, Any] = dict(player or {})

    def _encode(self, action: dict[str, Any]) -> bytes:
        return json.dumps(action, ensure_ascii=False).encode()

    def first(self) -> bytes:
        """The body of the slot's first action."""
        return self.next_body(None)

    def after_refusal(self, code: str) -> bytes:
        """The next action after the rules refused the last one with ``code``."""
        if code == "dead":
            return self._encode({"type": "rest"})
        if code == "qi_full":
            return self._encode({"type": "breakthrough"})
        return self.next_body(None)

    def next_body(self, answer: Any) -> bytes:
        """The next action after ``answer`` (an action body, or None after a refusal)."""
        if isinstance(answer, dict) and isinstance(answer.get("player"), dict):
            self.player = answer["player"]
        options = _open_choice(answer)
        if options:
            cheapest = min(options, key=lambda o: (o.get("cost") or 0))
            return self._encode({"type": "choose", "target": cheapest["id"]})
        if self.player and not self.player.get("hp", 1):
            return self._encode({"type": "rest"})
        action = MIX_ROUND[self.step % len(MIX_ROUND)]
        self.step += 1
        if action["type"] in ("sell", "buy") and self.player:
            held = (self.player.get("inventory") or {}).get(action["item"], 0)
            if held > 0:
                action = {**action, "type": "sell"}
            elif int(self.player.get("spirit_stones") or 0) >= self.SHOP_PRICE:
                action = {**action, "type": "buy"}
            else:
                action = MIX_ROUND[2]  # talk: nothing to sell, nothing to buy with
        return self._encode(action)


def _open_choice(answer: Any) -> list[dict[str, Any]]:
    """The options of the choice an action answer leaves pending ([] when none)."""
    if not isinstance(answer, dict) or not answer.get("player", {}).get("pending_choice"):
        return []
    for event in answer.get("outcome", {}).get("events", []):
        if isinstance(event, dict) and event.get("type") == "choice":
            return list(event.get("options") or [])
    return []


async def _new_player(http: aiohttp.ClientSession, base: str, slot: int,
                      optional: bool = False) -> tuple[str, str, dict[str, Any]] | None:
    """A cultivator for one slot: its id, token and player view (the server's creation limit
    must allow one per slot).

    With ``optional``, a server that has no player routes (the bare comparison stacks of
    ``devtools.bench stacks``) gives None: its LLM route is called without a token."""
    async with http.post(f"{base}/api/players", json={"name": f"压测{slot}"}) as resp:
        if optional and resp.status in (404, 405):
            return None
        if resp.status not in (200, 201):
            raise RuntimeError(f"creating a player answered {resp.status}: {await resp.text()}")
        created = await resp.json()
    return str(created["player"]["id"]), str(created["token"]), dict(created["player"])


async def llm_setup(http: aiohttp.ClientSession, base: str, slot: int,
                    prompt: str = DEFAULT_PROMPT) -> Request:
    """``POST /api/llm`` as a player (the route needs a player's bearer token)."""
    player = await _new_player(http, base, slot, optional=True)
    auth = {"Authorization": f"Bearer {player[1]}"} if player else {}
    return Request("/api/llm", json.dumps({"prompt": prompt}).encode(),
                   {"Content-Type": "application/json", **auth},
                   lambda body: bool(body.get("degraded", False)))


async def actions_setup(http: aiohttp.ClientSession, base: str, slot: int,
                        prompt: str = DEFAULT_PROMPT) -> Request:
    """A new cultivator for this slot; then ``talk`` actions for it."""
    req, _ = await _action_slot(http, base, slot)
    return req


async def _action_slot(http: aiohttp.ClientSession, base: str,
                       slot: int) -> tuple[Request, dict[str, Any]]:
    """A new cultivator's talk request, and the player view its creation answered."""
    player = await _new_player(http, base, slot)
    assert player is not None  # not optional: an error was raised instead
    pid, token, view = player
    body = {"type": "talk", "target": TALK_NPC, "text": "前辈，请指点修行。"}
    req = Request(f"/api/players/{pid}/actions", json.dumps(body, ensure_ascii=False).encode(),
                  {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                  lambda answer: bool(answer["narration"]["degraded"]))
    return req, view


async def mix_setup(http: aiohttp.ClientSession, base: str, slot: int,
                    prompt: str = DEFAULT_PROMPT) -> Request:
    """A new cultivator for this slot; then the ``mix`` round for it, played knowing what its
    creation answered (stones, inventory)."""
    req, view = await _action_slot(http, base, slot)
    player = MixPlayer(slot, view)
    req.body = player.first()
    req.follow = player.next_body
    req.refused = player.after_refusal
    req.renew = lambda: mix_setup(http, base, slot, prompt)
    return req


async def prompt_setup(http: aiohttp.ClientSession, base: str, slot: int,
                       prompt: str = DEFAULT_PROMPT) -> Request:
    """``POST /api/llm`` without a token (the minimal comparison apps of the benchmark)."""
    return Request("/api/llm", json.dumps({"prompt": prompt}).encode(),
                   {"Content-Type": "application/json"},
                   lambda body: bool(body.get("degraded", False)))


SETUPS: dict[str, Callable[..., Awaitable[Request]]] = {
    "llm": llm_setup, "prompt": prompt_setup, "actions": actions_setup, "mix": mix_setup}


async def _slot(http: aiohttp.ClientSession, base: str, req: Request, total: int,
                deadline: float, tally: Tally) -> None:
    while tally.issued < total and time.perf_counter() < deadline:
        tally.issued += 1
        url = base + req.path  # a renewed slot plays another player
        start = time.perf_counter()
        try:
            async with http.post(url, data=req.body, headers=req.headers) as resp:
                payload = await resp.read()
                elapsed = time.perf_counter() - start
                status = resp.status
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any transport failure counts as one error of its kind
            tally.error(type(exc).__name__)
            continue
        refuse, renew = req.refused, req.renew
        code = _refusal(payload, tally) if status in (409, 422) and refuse else None
        if code is not None and refuse is not None:
            if code == "ended" and renew is not None:
                try:
                    req = await renew()
                except Exception as exc:  # a failed creation is an error of the run
                    tally.error(f"renew_{type(exc).__name__}")
                continue
            req.body = refuse(code)
            continue
        if status != 200:
            tally.error(f"http_{status}")
            continue
        try:
            answer = json.loads(payload)
            degraded = req.degraded(answer)
            if req.follow is not None:
                req.body = req.follow(answer)
        except (ValueError, KeyError, TypeError, AttributeError):
            tally.error("bad_json")
            continue
        tally.latencies.append(elapsed)
        if degraded:
            tally.degraded += 1
        else:
            tally.ok += 1


def _refusal(payload: bytes, tally: Tally) -> str | None:
    """Count a refusal of the rules (an error body with a code) and return its code; None
    for anything else."""
    try:
        code = str(json.loads(payload)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None
    if code in ("idempotency_key_reused", "rate_limited"):
        return None  # not the rules: a real error of the run
    tally.refused[code] = tally.refused.get(code, 0) + 1
    return code


async def _progress(tally: Tally, total: int, label: str) -> None:
    while True:
        await asyncio.sleep(1.0)
        done = tally.ok + tally.degraded + tally.errors + sum(tally.refused.values())
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
        print(SETUP_DONE, file=sys.stderr, flush=True)  # run_in_process: the load starts now
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
    done = tally.ok + tally.degraded + tally.errors + sum(tally.refused.values())
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
        "refused": sum(tally.refused.values()),
        "refused_kinds": tally.refused,
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
                   label: str = "load",
                   on_started: Callable[[], None] | None = None) -> dict[str, Any]:
    """:func:`run_load` in a child process (its progress goes to our stderr).

    ``on_started`` is called once the slots are set up (players created) and the measured
    load begins, e.g. to read the server's CPU without the set-up in it.
    """
    cmd = [sys.executable, "-m", "devtools.load", "--base", base, "--scenario", scenario,
           "--requests", str(requests), "--concurrency", str(concurrency),
           "--cap", f"{cap:.1f}", "--prompt", prompt, "--label", label]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    stdout, out = child.stdout, []

    def read_stdout() -> None:
        out.append(stdout.read())

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    watchdog = threading.Timer(cap + 90, child.kill)  # the child stops itself at ``cap``
    watchdog.start()
    try:
        for raw in child.stderr:
            line = raw.decode(errors="replace")
            if line.strip() == SETUP_DONE:
                if on_started is not None:
                    on_started()
                continue
            sys.stderr.write(line)
        child.wait()
    finally:
        watchdog.cancel()
        if child.poll() is None:
            child.kill()
            child.wait(10)
    reader.join(10)
    if child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, cmd)
    summary: dict[str, Any] = json.loads(b"".join(out).decode().strip().splitlines()[-1])
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
