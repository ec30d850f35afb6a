"""Per-connection SQLite settings, applied on the thread that owns the connection.

WAL (readers never block the writer), ``busy_timeout`` (wait for another process's write
lock instead of failing), ``synchronous=NORMAL`` (safe with WAL, no fsync per commit), foreign
keys on, and ``isolation_level=None`` so that SQLAlchemy's begin hook, not the driver, decides
when a transaction starts (and with ``BEGIN IMMEDIATE`` for writes).
"""

from __future__ import annotations

import sqlite3
import time

from shared.logging_setup import get_logger

# While another connection switches a brand-new file to WAL, SQLite answers "database is
# locked" at once, without consulting the busy handler; retry at this pace instead.
_WAL_RETRY_PAUSE = 0.01


def configure_sqlite(conn: sqlite3.Connection, busy_timeout: float) -> sqlite3.Connection:
    """Apply the store's settings to a fresh connection and return it."""
    conn.isolation_level = None
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    _enable_wal(conn, busy_timeout)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _enable_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return  # the usual case: WAL is a persistent property of the file
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(_WAL_RETRY_PAUSE)
            continue
        if mode != "wal":  # e.g. a file system without shared memory
            get_logger("store").warning("SQLite refused WAL mode (journal_mode=%s)", mode)
        return
