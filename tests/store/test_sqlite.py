"""SQLite specifics: WAL and pragmas, BEGIN IMMEDIATE for writes, the one-hop aiosqlite
connection (hop counts, deferred BEGIN, cancellation) and a second process holding the lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from shared.store import PoolConfig, StoreError, open_async_store, open_store
from shared.store.aiosqlite_onehop import OneHopConnection
from shared.store.sqlite_setup import configure_sqlite
from tests.store.test_concurrency import commit_with_retry_async, commit_with_retry_sync
from tests.store.test_faces import STATE, entry

ONE_CONNECTION = PoolConfig(size=1, max_overflow=0, timeout=10.0)


def db_path(sqlite_url: str) -> Path:
    return Path(sqlite_url.removeprefix("sqlite:///"))


def test_sync_store_sets_wal_and_pragmas(sqlite_url: str) -> None:
    store = open_store(sqlite_url, busy_timeout=2.5)
    store.init_schema()
    with store.engine.connect() as conn:
        pragmas = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
        }
    store.close()
    assert pragmas == {
        "journal_mode": "wal",
        "busy_timeout": 2500,
        "synchronous": 1,
        "foreign_keys": 1,
    }
    # WAL is a property of the file: a plain connection sees it too.
    with sqlite3.connect(db_path(sqlite_url)) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_async_store_sets_wal_and_pragmas(sqlite_url: str) -> None:
    store = open_async_store(sqlite_url)
    await store.init_schema()
    async with store.engine.connect() as conn:
        pragmas = [
            (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
        ]
    await store.close()
    assert pragmas == ["wal", 5000, 1, 1]


def test_open_store_creates_the_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'game.db'}"
    store = open_store(url)
    store.init_schema()
    store.close()
    assert (tmp_path / "a" / "b" / "game.db").is_file()


def statements_of(engine: Any) -> list[str]:
    """Record every SQL string the engine sends (upper-cased, first word or two)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()[:2]).upper())

    event.listen(engine, "before_cursor_execute", record)
    return seen


def test_writes_begin_immediate_and_reads_begin_nothing(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    store.init_schema()
    store.create_player("p1", "h", STATE, entry(0))
    seen = statements_of(store.engine)
    store.get_player("p1")
    assert seen == ["SELECT PLAYERS.ID,"]
    seen.clear()
    store.commit_action("p1", 0, {}, entry(1))
    assert seen == ["BEGIN IMMEDIATE", "UPDATE PLAYERS", "INSERT INTO"]
    seen.clear()
    store.set_narration("p1", 1, "文", False)
    assert seen == ["UPDATE ACTION_LOG"]  # one statement is atomic without BEGIN
    store.close()


@pytest.mark.parametrize("writes", ["thread", "aiosqlite"])
async def test_async_writes_begin_immediate(sqlite_url: str, writes: str) -> None:
    store = open_async_store(sqlite_url, sqlite_writes=writes)
    await store.init_schema()
    await store.create_player("p1", "h", STATE, entry(0))
    engine = store.writer.engine if store.writer else store.engine.sync_engine
    seen = statements_of(engine)
    await store.commit_action("p1", 0, {}, entry(1))
    await store.set_narration("p1", 1, "文", False)
    assert seen == ["BEGIN IMMEDIATE", "UPDATE PLAYERS", "INSERT INTO", "UPDATE ACTION_LOG"]
    await store.close()


async def driver_connection(store: Any) -> OneHopConnection:
    async with store.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
    assert isinstance(driver, OneHopConnection)
    return driver


async def test_one_thread_hop_per_statement(sqlite_url: str) -> None:
    """The reason for aiosqlite_onehop: get 1 hop, commit 3, narration 1 (stock: 6, 12, 8)."""
    store = open_async_store(sqlite_url, pool=ONE_CONNECTION, sqlite_writes="aiosqlite")
    await store.init_schema()
    await store.create_player("p1", "h", STATE, entry(0))
    conn = await driver_connection(store)

    async def hops(coro: Any) -> int:
        before = conn.hops
        await coro
        return conn.hops - before

    assert await hops(store.get_player("p1")) == 1
    assert (
        await hops(store.commit_action("p1", 0, {}, entry(1))) == 3
    )  # BEGIN+UPDATE, INSERT, COMMIT
    assert await hops(store.set_narration("p1", 1, "文", False)) == 1
    assert await hops(store.list_log("p1", 5)) == 1
    # A failed compare-and-set: UPDATE (with BEGIN), version read, ROLLBACK.
    with pytest.raises(Exception, match="expected version 0"):
        await store.commit_action("p1", 0, {}, entry(2))
    assert not conn.in_transaction
    await store.close()


async def test_one_hop_cursor_covers_the_dbapi_surface(sqlite_url: str) -> None:
    """executemany, fetchone and fetchmany as SQLAlchemy's adapter may call them."""
    store = open_async_store(sqlite_url, pool=ONE_CONNECTION)
    async with store.engine.connect() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        await conn.exec_driver_sql("INSERT INTO t (n) VALUES (?)", [(1,), (2,), (3,)])
        await conn.commit()
        raw = await conn.get_raw_connection()
        cursor = raw.driver_connection.cursor()
        async with cursor:
            await cursor.execute("SELECT n FROM t ORDER BY n")
            assert await cursor.fetchone() == (1,)
            assert await cursor.fetchmany() == [(2,)]
            assert await cursor.fetchmany(5) == [(3,)]
            assert await cursor.fetchone() is None
            await cursor.executemany("INSERT INTO t (n) VALUES (?)", iter([(4,), (5,)]))
            assert cursor.rowcount == 2
        assert (await conn.exec_driver_sql("SELECT count(*) FROM t")).scalar() == 5
    await store.close()


async def test_a_begin_that_runs_nothing_costs_nothing(sqlite_url: str) -> None:
    store = open_async_store(sqlite_url, pool=ONE_CONNECTION)
    await store.init_schema()
    conn = await driver_connection(store)
    before = conn.hops
    async with store.engine.connect() as sa:
        await sa.exec_driver_sql("BEGIN IMMEDIATE")
        await sa.rollback()
    assert conn.hops == before and not conn.in_transaction
    await store.close()


@pytest.mark.parametrize("writes", ["thread", "aiosqlite"])
async def test_cancelled_write_leaves_no_transaction_open(sqlite_url: str, writes: str) -> None:
    """A request cancelled mid-commit must not leave the SQLite write lock taken."""
    store = open_async_store(sqlite_url, pool=ONE_CONNECTION, sqlite_writes=writes)
    await store.init_schema()
    await store.create_player("p1", "h", {"counter": 0}, entry(0))
    for _ in range(5):  # cancel at different points of the transaction
        for delay_steps in range(4):
            row = await store.get_player("p1")
            task = asyncio.create_task(
                store.commit_action("p1", row.version, {"counter": 1}, entry(row.version + 1))
            )
            for _ in range(delay_steps):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    # Another process-like writer with a short busy timeout gets the lock (a cancelled write
    # may still be finishing on the writer thread: that is a conflict, not a lock held)...
    other = open_store(sqlite_url, busy_timeout=0.5)
    commit_with_retry_sync(other, "p1", "other")
    other.close()
    # ...and the async store's own connections are clean and usable.
    conn = await driver_connection(store)
    assert not conn.in_transaction
    await commit_with_retry_async(store, "p1", "async")
    await store.close()


async def test_write_cancelled_while_waiting_for_the_lock_is_rolled_back(
    sqlite_url: str,
) -> None:
    """The cancelled statement still runs once the lock frees; its transaction must not stay
    open on the pooled connection (that would hold SQLite's write lock for good)."""
    store = open_async_store(sqlite_url, pool=ONE_CONNECTION, sqlite_writes="aiosqlite")
    await store.init_schema()
    await store.create_player("p1", "h", {"counter": 0}, entry(0))
    conn = await driver_connection(store)
    holder = sqlite3.connect(db_path(sqlite_url), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing
    before = conn.hops
    task = asyncio.create_task(store.commit_action("p1", 0, {"counter": 1}, entry(1)))
    for _ in range(10_000):  # until the statement is in the worker thread, waiting
        if conn.hops > before:
            break
        await asyncio.sleep(0.001)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    holder.execute("ROLLBACK")
    holder.close()
    assert (await store.get_player("p1")).version in (0, 1)  # after the cancelled statement
    other = open_store(sqlite_url, busy_timeout=0.5)
    row = other.get_player("p1")
    other.commit_action("p1", row.version, {"counter": 2}, entry(row.version + 1))
    other.close()
    await store.close()


async def test_rollback_waits_for_a_statement_still_in_the_worker(tmp_path: Path) -> None:
    """Directly on OneHopConnection: with a hop in flight, rollback must not be skipped."""
    path = tmp_path / "raw.db"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (n INTEGER)")
    conn = OneHopConnection(
        partial(sqlite3.connect, str(path), timeout=5, check_same_thread=False), 64
    )
    conn._thread.daemon = True  # never block interpreter exit, even if this test fails
    await conn
    conn.isolation_level = None  # SQLAlchemy's recipe: the caller sends BEGIN
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    conn.defer("BEGIN IMMEDIATE")
    task = asyncio.create_task(conn.statement(False, "INSERT INTO t VALUES (1)", None))
    for _ in range(10_000):
        if conn.hops:
            break
        await asyncio.sleep(0.001)
    task.cancel()
    rollback = asyncio.create_task(conn.rollback())  # queued behind the blocked statement
    await asyncio.sleep(0.05)
    holder.execute("ROLLBACK")
    holder.close()
    await rollback
    await conn.statement(False, "SELECT 1", None)  # the worker has finished everything
    assert not conn.in_transaction
    rows = (await conn.statement(False, "SELECT count(*) FROM t", None))[3]
    assert rows == [(0,)]  # the cancelled INSERT was rolled back
    await conn.close()


def test_other_process_holding_the_lock_past_busy_timeout_is_a_store_error(
    sqlite_url: str,
) -> None:
    store = open_store(sqlite_url, busy_timeout=0.2)
    store.init_schema()
    store.create_player("p1", "h", STATE, entry(0))
    holder = sqlite3.connect(db_path(sqlite_url), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as info:
            store.commit_action("p1", 0, {}, entry(1))
        assert info.value.status == 503 and "locked" in info.value.message
        assert store.get_player("p1").version == 0  # WAL: reads go on meanwhile
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.commit_action("p1", 0, {}, entry(1)).version == 1  # and the lock is back
    store.close()


async def test_foreign_keys_are_enforced(sqlite_url: str) -> None:
    store = open_async_store(sqlite_url)
    await store.init_schema()
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        async with store.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO action_log (player_id, seq, action, outcome, narration_request)"
                    " VALUES ('ghost', 1, '{}', '{}', '{}')"
                )
            )
    await store.close()


def test_wal_switch_waits_for_another_connection(tmp_path: Path) -> None:
    """A fresh file being switched to WAL elsewhere: wait and retry, then WAL."""
    path = tmp_path / "fresh.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (n INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.2, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        conn = configure_sqlite(sqlite3.connect(path), busy_timeout=5.0)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    finally:
        release.join()
        holder.close()


def test_wal_switch_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (n INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            configure_sqlite(sqlite3.connect(path), busy_timeout=0.05)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
