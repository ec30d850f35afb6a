"""``transact_player`` serialises every writer of one player, on SQLite and PostgreSQL.

50 concurrent actions on one player: threads on the sync face, tasks on the async face, a sync
and an async store on one database at once (the two apps during a switch), and two processes.
Each must be applied exactly once with no version conflict at all (a conflict would mean two
writers raced), versions 1..50; a rate limit checked inside ``decide`` is never exceeded.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from shared.errors import RateLimited
from shared.store import (
    Commit,
    CommitResult,
    Decide,
    Decision,
    LogEntry,
    PlayerRow,
    open_async_store,
    open_store,
)
from tests.store.test_concurrency import PROCESS_TIMEOUT, check_history, fresh, run_children
from tests.store.test_faces import bump, entry

ACTIONS = 50


def run_threads(count: int, work: object) -> list[BaseException]:
    """Start ``count`` threads calling ``work(n)`` at one moment; return their errors."""
    assert callable(work)
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(n: int) -> None:
        try:
            start.wait(timeout=30)
            work(n)
        except BaseException as exc:  # surfaced by the caller
            errors.append(exc)

    pool = [threading.Thread(target=body, args=(n,)) for n in range(count)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=PROCESS_TIMEOUT)
    assert not any(t.is_alive() for t in pool)
    return errors


def check_serial(results: list[CommitResult], url: str) -> None:
    """Every call applied once, versions 1..N, and the stored history agrees."""
    assert not any(r.replayed for r in results)
    assert sorted(r.version for r in results) == list(range(1, len(results) + 1))
    store = open_store(url)
    check_history(store, "hot", len(results))
    tags = {e.action["w"] for e in store.list_log("hot", len(results) + 10) if e.seq}
    assert len(tags) == len(results)  # each call's own entry, none lost or doubled
    store.close()


def test_threads_are_serialised(store_url: str) -> None:
    store = fresh(store_url)
    results: list[CommitResult] = []
    errors = run_threads(ACTIONS, lambda n: results.append(
        store.transact_player("hot", bump(f"t{n}"))))
    store.close()
    assert not errors, errors  # a VersionConflict would be here
    check_serial(results, store_url)


async def test_tasks_are_serialised(store_url: str) -> None:
    fresh(store_url).close()
    store = open_async_store(store_url)
    results = await asyncio.gather(
        *(store.transact_player("hot", bump(f"a{n}")) for n in range(ACTIONS))
    )
    await store.close()
    check_serial(list(results), store_url)


async def test_sync_and_async_stores_on_one_database_are_serialised(store_url: str) -> None:
    sync = fresh(store_url)
    face = open_async_store(store_url)
    half = ACTIONS // 2

    def flask_side() -> list[CommitResult]:
        results: list[CommitResult] = []
        errors = run_threads(half, lambda n: results.append(
            sync.transact_player("hot", bump(f"flask{n}"))))
        assert not errors, errors
        return results

    flask, *quart = await asyncio.gather(
        asyncio.to_thread(flask_side),
        *(face.transact_player("hot", bump(f"quart{n}")) for n in range(half)),
    )
    await face.close()
    sync.close()
    assert isinstance(flask, list)
    check_serial([*flask, *quart], store_url)


@pytest.mark.slow
def test_two_processes_are_serialised(store_url: str, tmp_path: Path) -> None:
    fresh(store_url).close()
    outputs = run_children(store_url, tmp_path, "transact", 2, count=ACTIONS // 2)
    assert outputs == [str(ACTIONS // 2)] * 2  # each child raises on any conflict
    store = open_store(store_url)
    check_history(store, "hot", ACTIONS)
    writers = {e.action["w"].split(":")[0] for e in store.list_log("hot", 100) if e.seq}
    assert len(writers) == 2
    store.close()


def limited(limit: int, tag: str) -> Decide:
    """A ``decide`` that refuses once ``limit`` actions happened in the window, like the use
    case's rate limit."""
    inner = bump(tag)

    def decide(row: PlayerRow | None, recent: int, prior: LogEntry | None) -> Decision:
        if recent >= limit:
            raise RateLimited(f"每分钟最多行动 {limit} 次。")
        return inner(row, recent, prior)

    return decide


LIMIT = 20


def check_limited(outcomes: list[object], url: str) -> None:
    """Exactly LIMIT actions applied, the others refused with the decide's own error."""
    applied = [o for o in outcomes if isinstance(o, CommitResult)]
    refused = [o for o in outcomes if isinstance(o, RateLimited)]
    assert len(applied) == LIMIT and len(refused) == ACTIONS - LIMIT, outcomes
    check_serial(applied, url)


def test_rate_limit_holds_across_threads(store_url: str) -> None:
    store = fresh(store_url)
    outcomes: list[object] = []

    def work(n: int) -> None:
        try:
            outcomes.append(
                store.transact_player("hot", limited(LIMIT, f"t{n}"), recent_seconds=60)
            )
        except RateLimited as exc:
            outcomes.append(exc)

    errors = run_threads(ACTIONS, work)
    store.close()
    assert not errors, errors
    check_limited(outcomes, store_url)


async def test_rate_limit_holds_across_tasks_and_both_faces(store_url: str) -> None:
    sync = fresh(store_url)
    face = open_async_store(store_url)
    half = ACTIONS // 2

    def one_sync(n: int) -> object:
        try:
            return sync.transact_player("hot", limited(LIMIT, f"s{n}"), recent_seconds=60)
        except RateLimited as exc:
            return exc

    outcomes = await asyncio.gather(
        *(asyncio.to_thread(one_sync, n) for n in range(half)),
        *(
            face.transact_player("hot", limited(LIMIT, f"a{n}"), recent_seconds=60)
            for n in range(half)
        ),
        return_exceptions=True,
    )
    await face.close()
    sync.close()
    check_limited(list(outcomes), store_url)


def test_exceptions_in_decide_under_concurrency_write_nothing(store_url: str) -> None:
    """Odd calls fail inside ``decide``: exactly the even ones are applied."""
    store = fresh(store_url)
    results: list[CommitResult] = []
    failures: list[KeyError] = []
    ok = bump("x")

    def work(n: int) -> None:
        def decide(row: PlayerRow | None, recent: int, prior: LogEntry | None) -> Decision:
            if n % 2:
                raise KeyError(n)
            decision = ok(row, recent, prior)
            assert isinstance(decision, Commit)
            return Commit(decision.state, entry(decision.entry.seq, w=f"t{n}"))

        try:
            results.append(store.transact_player("hot", decide))
        except KeyError as exc:
            failures.append(exc)

    errors = run_threads(ACTIONS, work)
    store.close()
    assert not errors, errors
    assert sorted(f.args[0] for f in failures) == list(range(1, ACTIONS, 2))
    check_serial(results, store_url)
