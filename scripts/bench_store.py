"""Benchmark the async store: throughput at many concurrent writers.

    .venv/bin/python scripts/bench_store.py                 # async SQLite, temp file
    .venv/bin/python scripts/bench_store.py --url postgresql://127.0.0.1/test --uvloop

Runs ``--inflight`` coroutines (default 500) over ``--players`` players (default 100), in two
rounds: ``commit`` (get_player + commit_action, retried on VersionConflict) and ``action`` (the
Quart app's per-action work: get_player + commit_action + set_narration). With 5 requests per
player in flight most commit attempts lose the race and retry, as they would in the app; run
with ``--players 500`` for one request in flight per player. Prints, per round, successful
commits/s, commit_action calls/s (won or lost) and all store calls/s, plus the process CPU
time per successful commit.
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

from shared.store import AsyncStore, NewLogEntry, PoolConfig, VersionConflict, open_async_store


@dataclass
class Tally:
    """Counts of one round."""

    commits: int = 0
    conflicts: int = 0
    calls: int = 0

    @property
    def commit_calls(self) -> int:
        """commit_action calls, won or lost."""
        return self.commits + self.conflicts


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


async def _round(
    store: AsyncStore, args: argparse.Namespace, narrate: bool
) -> tuple[Tally, float, float]:
    tally = Tally()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(args.actions):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            await _one_action(store, f"bench-{i % args.players}", narrate, tally)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(args.inflight)))
    return tally, time.perf_counter() - started, time.process_time() - cpu


async def main(args: argparse.Namespace) -> None:
    pool = PoolConfig(args.pool_size, 0, 60.0) if args.pool_size else None
    store = open_async_store(args.url, pool=pool, sqlite_writes=args.sqlite_writes)
    try:
        await store.init_schema()
        for p in range(args.players):
            player_id = f"bench-{p}"
            if await store.get_player(player_id) is None:
                await store.create_player(
                    player_id, "hash", _state(0), NewLogEntry(0, {"type": "create"}, {}, {})
                )
        writes = f", SQLite writes on {args.sqlite_writes}" if store.backend == "sqlite" else ""
        print(f"store: {store!r}{writes}; {args.inflight} in flight, {args.players} players")
        for name, narrate in (("commit", False), ("action", True)):
            tally, elapsed, cpu = await _round(store, args, narrate)
            print(
                f"{name:>6}: {tally.commits / elapsed:,.0f} commits/s, "
                f"{tally.commit_calls / elapsed:,.0f} commit_action calls/s "
                f"({tally.conflicts} lost a race and retried), "
                f"{tally.calls / elapsed:,.0f} store calls/s, "
                f"{cpu / tally.commits * 1000:.2f} ms CPU per commit "
                f"({tally.commits} commits in {elapsed:.2f} s)"
            )
    finally:
        await store.close()


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="store URL (default: a temp SQLite file)")
    parser.add_argument("--inflight", type=int, default=500)
    parser.add_argument("--players", type=int, default=100)
    parser.add_argument("--actions", type=int, default=5000, help="actions per round")
    parser.add_argument("--pool-size", type=int, help="async pool size (default: the store's)")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (hypercorn -k uvloop)")
    parser.add_argument(
        "--sqlite-writes",
        choices=("thread",),  # the aiosqlite path was removed from the store
        default="thread",
        help="where the async face runs SQLite writes (default: thread)",
    )
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
