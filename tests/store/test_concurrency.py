"""Concurrent writers never lose an update, on SQLite and PostgreSQL.

Threads on the sync face (Flask's gthread workers), tasks on the async face (one hypercorn
worker), both faces at once on one database (the two apps during a switch), and separate
processes. Every test checks the invariants, not timings: the final version equals the number
of successful commits and the log's seqs are unique and contiguous.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from shared.config import REPO_ROOT
from shared.store import (
    SCHEMA_VERSION,
    AsyncStore,
    CommitResult,
    SyncStore,
    VersionConflict,
    open_async_store,
    open_store,
)
from tests.store.test_faces import entry

PROCESS_TIMEOUT = 120.0


def commit_with_retry_sync(store: SyncStore, player_id: str, tag: str) -> int:
    """One logical action: read, add one to the counter, commit; retry on conflict."""
    conflicts = 0
    while True:
        row = store.get_player(player_id)
        assert row is not None
        state = {"counter": row.state["counter"] + 1, "last": tag}
        try:
            store.commit_action(player_id, row.version, state, entry(row.version + 1, w=tag))
            return conflicts
        except VersionConflict:
            conflicts += 1


async def commit_with_retry_async(store: AsyncStore, player_id: str, tag: str) -> int:
    """The async twin of :func:`commit_with_retry_sync`."""
    conflicts = 0
    while True:
        row = await store.get_player(player_id)
        state = {"counter": row.state["counter"] + 1, "last": tag}
        try:
            await store.commit_action(player_id, row.version, state, entry(row.version + 1, w=tag))
            return conflicts
        except VersionConflict:
            conflicts += 1


def check_history(store: SyncStore, player_id: str, commits: int) -> None:
    """Version, counter and log agree with the number of commits: nothing was lost."""
    row = store.get_player(player_id)
    assert row is not None
    assert row.version == commits
    assert row.state["counter"] == commits
    seqs = [e.seq for e in store.list_log(player_id, commits + 10)]
    assert seqs == list(range(commits, -1, -1))


def fresh(url: str, player_id: str = "hot") -> SyncStore:
    """A migrated sync store with one player whose counter is 0."""
    store = open_store(url)
    store.init_schema()
    store.create_player(player_id, "h", {"counter": 0}, entry(0))
    return store


def test_threads_on_one_player_never_lose_an_update(store_url: str) -> None:
    store = fresh(store_url)
    threads, per_thread = 8, 12
    start = threading.Barrier(threads)
    errors: list[BaseException] = []
    conflicts: list[int] = []

    def work(n: int) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(per_thread):
                conflicts.append(commit_with_retry_sync(store, "hot", f"t{n}"))
        except BaseException as exc:  # surfaced below with the thread's error
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=PROCESS_TIMEOUT)
    assert not errors, errors
    assert not any(t.is_alive() for t in pool)
    check_history(store, "hot", threads * per_thread)
    store.close()


async def herd_of_tasks(url: str) -> None:
    """16 tasks x 4 actions on one player through the async face."""
    fresh(url).close()
    store = open_async_store(url)
    tasks, per_task = 16, 4

    async def work(n: int) -> None:
        for _ in range(per_task):
            await commit_with_retry_async(store, "hot", f"a{n}")

    await asyncio.gather(*(work(n) for n in range(tasks)))
    await store.close()
    check = open_store(url)
    check_history(check, "hot", tasks * per_task)
    check.close()


async def test_tasks_on_one_player_never_lose_an_update(store_url: str) -> None:
    await herd_of_tasks(store_url)


def test_same_key_from_many_threads_applies_once(store_url: str) -> None:
    store = fresh(store_url)
    threads = 8
    start = threading.Barrier(threads)
    results: list[CommitResult] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait(timeout=30)
            # Same request (key, version) sent eight times at once, bodies differing.
            results.append(store.commit_action("hot", 0, {"counter": 1, "by": n}, entry(1, "k")))
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=PROCESS_TIMEOUT)
    assert not errors, errors
    assert sorted(r.replayed for r in results) == [False] + [True] * (threads - 1)
    winner = next(r for r in results if not r.replayed)
    assert all(r.entry == winner.entry and r.version == 1 for r in results)
    check_history(store, "hot", 1)
    store.close()


async def same_key_from_tasks(url: str) -> None:
    """20 identical requests (same key and version) at once through the async face."""
    fresh(url).close()
    store = open_async_store(url)
    results = await asyncio.gather(
        *(store.commit_action("hot", 0, {"counter": 1, "by": n}, entry(1, "k")) for n in range(20))
    )
    await store.close()
    assert sorted(r.replayed for r in results) == [False] + [True] * 19
    winner = next(n for n, r in enumerate(results) if not r.replayed)
    assert all(r.entry == results[winner].entry and r.version == 1 for r in results)
    check = open_store(url)
    check_history(check, "hot", 1)
    assert check.get_player("hot").state == {"counter": 1, "by": winner}
    check.close()


async def test_same_key_from_many_tasks_applies_once(store_url: str) -> None:
    await same_key_from_tasks(store_url)


async def test_sync_and_async_faces_interleave_on_one_database(store_url: str) -> None:
    """Flask and Quart serving the same player during a switch."""
    sync = fresh(store_url)
    face = open_async_store(store_url)
    # Strictly alternating: each face sees the other's write at once.
    for turn in range(6):
        if turn % 2:
            await commit_with_retry_async(face, "hot", "quart")
            assert sync.get_player("hot").version == turn + 1
        else:
            commit_with_retry_sync(sync, "hot", "flask")
            assert (await face.get_player("hot")).version == turn + 1
    # And at the same moment: sync writers in threads, async writers in tasks.

    def flask_side() -> None:
        for _ in range(10):
            commit_with_retry_sync(sync, "hot", "flask")

    async def quart_side() -> None:
        for _ in range(10):
            await commit_with_retry_async(face, "hot", "quart")

    await asyncio.gather(
        asyncio.to_thread(flask_side),
        asyncio.to_thread(flask_side),
        quart_side(),
        quart_side(),
        quart_side(),
    )
    await face.close()
    check_history(sync, "hot", 6 + 50)
    lasts = {e.action["w"] for e in sync.list_log("hot", 100) if e.seq}
    assert lasts == {"flask", "quart"}
    sync.close()


def test_init_schema_from_many_engines_at_once(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(4)]
    start = threading.Barrier(len(stores))
    versions: list[int] = []
    errors: list[BaseException] = []

    def init(store: SyncStore) -> None:
        try:
            start.wait(timeout=30)
            versions.append(store.init_schema())
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=init, args=(s,)) for s in stores]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=PROCESS_TIMEOUT)
    assert not errors, errors
    assert versions == [SCHEMA_VERSION] * 4
    assert applied_migrations(stores[0]) == list(range(1, SCHEMA_VERSION + 1))
    for s in stores:
        s.close()


async def test_init_schema_from_both_faces_at_once(store_url: str) -> None:
    sync = open_store(store_url)
    face = open_async_store(store_url)
    results = await asyncio.gather(
        asyncio.to_thread(sync.init_schema), face.init_schema(), face.init_schema()
    )
    await face.close()
    assert results == [SCHEMA_VERSION] * 3
    assert applied_migrations(sync) == list(range(1, SCHEMA_VERSION + 1))
    sync.close()


def applied_migrations(store: SyncStore) -> list[int]:
    """The versions recorded in schema_version, in order (one row per migration)."""
    from sqlalchemy import select

    from shared.store.schema import schema_version

    with store.engine.connect() as conn:
        return list(conn.execute(select(schema_version.c.version).order_by("version")).scalars())


# --- separate processes ------------------------------------------------------------------

CHILD = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
from shared.store import VersionConflict, open_store
from tests.store.test_faces import entry
url, go, mode, count = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
deadline = time.monotonic() + 60
while not os.path.exists(go):  # start together
    if time.monotonic() > deadline:
        sys.exit("never told to start")
    time.sleep(0.005)
store = open_store(url)
if mode == "init":
    print(store.init_schema())
elif mode == "transact":
    from shared.store import Commit
    me = str(os.getpid())
    for n in range(count):
        def decide(row, recent, prior, n=n):
            return Commit({"counter": row.state["counter"] + 1},
                          entry(row.version + 1, w=f"{me}:{n}"))
        store.transact_player("hot", decide)  # a VersionConflict fails the child
    print(count)
else:
    done = 0
    while done < count:
        row = store.get_player("hot")
        try:
            store.commit_action("hot", row.version, {"counter": row.state["counter"] + 1},
                                entry(row.version + 1, w=str(os.getpid())))
            done += 1
        except VersionConflict:
            pass
    print(done)
store.close()
"""


def run_children(url: str, tmp_path: Path, mode: str, n: int, count: int = 0) -> list[str]:
    """Start ``n`` processes that begin at the same moment; return their outputs."""
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(REPO_ROOT), url, str(go), mode, str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(n)
    ]
    go.touch()
    outputs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=PROCESS_TIMEOUT)
            assert p.returncode == 0, err
            outputs.append(out.strip())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return outputs


@pytest.mark.slow
def test_init_schema_from_processes_at_once(store_url: str, tmp_path: Path) -> None:
    outputs = run_children(store_url, tmp_path, "init", 3)
    assert outputs == [str(SCHEMA_VERSION)] * 3
    store = open_store(store_url)
    assert applied_migrations(store) == list(range(1, SCHEMA_VERSION + 1))
    store.close()


@pytest.mark.slow
def test_writers_in_two_processes_never_lose_an_update(store_url: str, tmp_path: Path) -> None:
    """Both apps writing one player from separate processes: no 'database is locked'."""
    fresh(store_url).close()
    outputs = run_children(store_url, tmp_path, "write", 2, count=60)
    assert outputs == ["60", "60"]
    store = open_store(store_url)
    check_history(store, "hot", 120)
    writers = {e.action["w"] for e in store.list_log("hot", 200) if e.seq}
    assert len(writers) == 2
    store.close()
