"""Benchmark the async store: throughput at many concurrent writers.

    .venv/bin/python scripts/bench_store.py                 # async SQLite, temp file
    .venv/bin/python scripts/bench_store.py --url postgresql://127.0.0.1/test --uvloop

Runs ``--inflight`` coroutines (default 500) over ``--players`` players (default 100), in two
rounds: ``commit`` (get_player + commit_action, retried on VersionConflict) and ``action`` (the
Quart app's per-action work: get_player + commit_action + set_narration). Prints ops/s for
each; the figure that matters is successful commits per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.store import AsyncStore, NewLogEntry, VersionConflict, open_async_store  # noqa: E402


@dataclass
class Tally:
    """Counts of one round."""

    commits: int = 0
    conflicts: int = 0
    calls: int = 0


def _state(turn: int) -> dict[str, object]:
    # About the size of a real player state: a few dozen fields and an inventory.
    return {
        "name": "韩立",
        "realm": "练气",
        "stage": 3,
        "qi": turn * 7,
        "hp": 100,
        "turn": turn,
        "inventory": {f"item_{i}": i for i in range(12)},
        "techniques": ["长春功", "眨眼剑法"],
    }


async def _one_action(store: AsyncStore, player_id: str, narrate: bool, tally: Tally) -> None:
    while True:
        row = await store.get_player(player_id)
        assert row is not None
        seq = row.version + 1
        entry = NewLogEntry(seq, {"type": "cultivate"}, {"summary": "灵气入体"}, {"kind": "x"})
        tally.calls += 2
        try:
            await store.commit_action(player_id, row.version, _state(seq), entry)
        except VersionConflict:
            tally.conflicts += 1
            continue
        tally.commits += 1
        if narrate:
            await store.set_narration(player_id, seq, "你盘膝而坐，灵气缓缓入体。", False)
            tally.calls += 1
        return


async def _round(store: AsyncStore, args: argparse.Namespace, narrate: bool) -> tuple[Tally, float]:
    tally = Tally()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(args.actions):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            await _one_action(store, f"bench-{i % args.players}", narrate, tally)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.inflight)))
    return tally, time.perf_counter() - started


async def main(args: argparse.Namespace) -> None:
    store = open_async_store(args.url)
    try:
        await store.init_schema()
        for p in range(args.players):
            player_id = f"bench-{p}"
            if await store.get_player(player_id) is None:
                await store.create_player(
                    player_id, "hash", _state(0), NewLogEntry(0, {"type": "create"}, {}, {})
                )
        print(f"store: {store!r}; {args.inflight} in flight, {args.players} players")
        for name, narrate in (("commit", False), ("action", True)):
            tally, elapsed = await _round(store, args, narrate)
            print(
                f"{name:>6}: {tally.commits} commits in {elapsed:.2f} s = "
                f"{tally.commits / elapsed:,.0f} commits/s, {tally.calls / elapsed:,.0f} "
                f"store calls/s, {tally.conflicts} conflicts retried"
            )
    finally:
        await store.close()


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="store URL (default: a temp SQLite file)")
    parser.add_argument("--inflight", type=int, default=500)
    parser.add_argument("--players", type=int, default=100)
    parser.add_argument("--actions", type=int, default=5000, help="actions per round")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (hypercorn -k uvloop)")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _parse()
    with tempfile.TemporaryDirectory() as tmp:
        if not arguments.url:
            arguments.url = f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        if arguments.uvloop:
            import uvloop

            uvloop.run(main(arguments))
        else:
            asyncio.run(main(arguments))
