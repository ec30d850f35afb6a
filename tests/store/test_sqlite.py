"""SQLite specifics: WAL and pragmas, BEGIN IMMEDIATE for writes, the async face's one SQLite
thread (every statement on it, cancellation) and a second process holding the lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import IntegrityError

from shared.store import PoolConfig, StoreError, open_async_store, open_store
from shared.store.sqlite_setup import configure_sqlite
from tests.store.test_concurrency import commit_with_retry_async, commit_with_retry_sync
from tests.store.test_faces import STATE, bump, entry

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


def pragmas_of(conn: Connection) -> list[Any]:
    return [
        conn.exec_driver_sql(f"PRAGMA {name}").scalar()
        for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
    ]


async def test_async_store_sets_wal_and_pragmas(sqlite_url: str) -> None:
    """The in-place connection never waits for the lock (busy_timeout 0: a busy file queues
    for the thread); the thread's connection waits up to the store's busy_timeout."""
    store = open_async_store(sqlite_url)
    await store.init_schema()
    in_place = await store.run_read(pragmas_of)  # the thread is idle: runs on this loop

    def on_thread_connection() -> list[Any]:
        with store.engine.connect() as conn:
            return pragmas_of(conn)

    threaded = await asyncio.to_thread(on_thread_connection)
    await store.close()
    assert in_place == ["wal", 0, 1, 1]
    assert threaded == ["wal", 5000, 1, 1]


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


async def test_async_writes_begin_immediate(sqlite_url: str) -> None:
    store = open_async_store(sqlite_url)
    await store.init_schema()
    await store.create_player("p1", "h", STATE, entry(0))
    seen = traced(store)
    await store.commit_action("p1", 0, {}, entry(1))
    await store.set_narration("p1", 1, "文", False)
    assert seen == ["BEGIN IMMEDIATE", "UPDATE PLAYERS", "INSERT INTO", "COMMIT",
                    "UPDATE ACTION_LOG"]
    await store.close()


def test_transact_player_begins_immediate_and_locks_nothing_else(sqlite_url: str) -> None:
    """SQLite's write lock is the player lock: no FOR UPDATE (SQLite has none), and the recent
    count is read with the row, in one statement."""
    store = open_store(sqlite_url)
    store.init_schema()
    store.create_player("p1", "h", {"counter": 0}, entry(0))
    seen = statements_of(store.engine)
    store.transact_player("p1", bump("t", "k"), recent_seconds=60, idempotency_key="k")
    assert seen == [
        "BEGIN IMMEDIATE", "SELECT PLAYERS.ID,", "SELECT ACTION_LOG.PLAYER_ID,",
        "UPDATE PLAYERS", "INSERT INTO",
    ]
    store.close()


def traced(store: Any, on_statement: Any = None) -> list[str]:
    """Record every SQL statement the async face's SQLite connections send (upper-cased,
    first word or two), in order; ``on_statement(sql, thread name)`` is called too."""
    seen: list[str] = []

    def record(sql: str) -> None:
        seen.append(" ".join(sql.split()[:2]).upper())
        if on_statement is not None:
            on_statement(sql, threading.current_thread().name)

    store.runner.trace(record)
    return seen


async def test_the_async_face_runs_sqlite_in_place_or_on_its_one_thread(
    sqlite_url: str,
) -> None:
    """Statements run on the calling loop's thread while the SQLite thread is idle, else on
    that one thread; never on any other thread."""
    store = open_async_store(sqlite_url)
    threads: set[str] = set()
    traced(store, lambda _sql, name: threads.add(name))
    await store.init_schema()
    await store.create_player("p1", "h", {"counter": 0}, entry(0))
    await asyncio.gather(
        store.get_player("p1"),
        store.list_log("p1", 5),
        store.transact_player("p1", bump("a")),
        store.commit_action("p1", 1, {"counter": 2}, entry(2)),
        store.set_narration_if_missing("p1", 1, "文", False),
    )
    runner: Any = store.runner
    await store.close()
    assert threads == {threading.current_thread().name}
    assert runner.inline_runs >= 5 and runner.queued_runs == 0  # nothing was ever busy


async def test_a_busy_file_queues_for_the_thread_and_the_loop_runs_on(
    sqlite_url: str,
) -> None:
    """Another process holds the write lock: the in-place attempt fails at once (nothing
    written), the write waits on the thread within busy_timeout while the loop keeps
    serving, and it lands once, after the other writer is done."""
    store = open_async_store(sqlite_url)
    await store.init_schema()
    await store.create_player("p1", "h", {"counter": 0}, entry(0))
    runner: Any = store.runner
    holder = sqlite3.connect(db_path(sqlite_url), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing
    task = asyncio.create_task(store.commit_action("p1", 0, {"counter": 1}, entry(1)))
    ticks = 0
    for _ in range(20):  # 0.2 s during which the loop must not be blocked
        await asyncio.sleep(0.01)
        ticks += 1
    assert not task.done() and runner.queued_runs == 1 and ticks == 20
    holder.execute("ROLLBACK")
    holder.close()
    assert (await task).version == 1
    row = await store.get_player("p1")
    await store.close()
    assert row is not None and row.version == 1 and row.state == {"counter": 1}


def test_no_module_imports_aiosqlite() -> None:
    """The async face runs pysqlite on its thread; aiosqlite (and its internals) are unused."""
    import ast

    from shared.config import REPO_ROOT

    for path in (REPO_ROOT / "shared").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
            assert not any(n.split(".")[0] == "aiosqlite" for n in names), path


async def test_cancelled_write_leaves_no_transaction_open(sqlite_url: str) -> None:
    """A request cancelled mid-commit must not leave the SQLite write lock taken."""
    store = open_async_store(sqlite_url, pool=ONE_CONNECTION)
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
    # ...and the async store's own connection is clean and usable.
    assert await store.run_read(raw_in_transaction) is False
    await commit_with_retry_async(store, "p1", "async")
    await store.close()


def raw_in_transaction(conn: Connection) -> bool:
    """Whether the pooled sqlite3 connection has a transaction open."""
    raw = conn.connection.dbapi_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw.in_transaction


async def test_write_cancelled_while_waiting_for_the_lock_completes_whole(
    sqlite_url: str,
) -> None:
    """Cancelled while its thread waits for another process's lock: the write still runs as
    a whole once the lock frees, and leaves no transaction open on the thread's connection
    (that would hold SQLite's write lock for good)."""
    store = open_async_store(sqlite_url)
    await store.init_schema()
    await store.create_player("p1", "h", {"counter": 0}, entry(0))
    waiting = threading.Event()

    def on_statement(sql: str, thread: str) -> None:
        if sql == "BEGIN IMMEDIATE" and thread.startswith("store-sqlite"):
            waiting.set()

    traced(store, on_statement)
    holder = sqlite3.connect(db_path(sqlite_url), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing
    task = asyncio.create_task(store.commit_action("p1", 0, {"counter": 1}, entry(1)))
    assert await asyncio.to_thread(waiting.wait, 10)  # the thread is in BEGIN IMMEDIATE
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    holder.execute("ROLLBACK")
    holder.close()
    assert (await store.get_player("p1")).version == 1  # queued behind the cancelled write
    assert await store.run_read(raw_in_transaction) is False
    other = open_store(sqlite_url, busy_timeout=0.5)
    other.commit_action("p1", 1, {"counter": 2}, entry(2))
    other.close()
    await store.close()


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


def insert_orphan_entry(conn: Connection) -> None:
    conn.execute(
        text(
            "INSERT INTO action_log (player_id, seq, action, outcome, narration_request)"
            " VALUES ('ghost', 1, '{}', '{}', '{}')"
        )
    )
    conn.commit()


async def test_foreign_keys_are_enforced(sqlite_url: str) -> None:
    store = open_async_store(sqlite_url)
    await store.init_schema()
    with pytest.raises(StoreError, match="FOREIGN KEY") as info:
        await store.run_transaction(insert_orphan_entry)
    assert isinstance(info.value.__cause__, IntegrityError)
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
