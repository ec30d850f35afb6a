"""The async face's SQLite executor against SQLAlchemy's own answers: same rows, same values
through the column types, same exception classes, and statements of one shape built with other
values (the counters' upserts) compiled once but run with their own values."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, select

from shared.limits.counters import limit_counters
from shared.store import open_store
from shared.store.queries import queries_for
from shared.store.sqlite_direct import DirectSqlite
from tests.store.test_faces import STATE, entry


@pytest.fixture
def direct(tmp_path: Path) -> Iterator[DirectSqlite]:
    url = f"sqlite:///{tmp_path / 'game.db'}"
    store = open_store(url)
    store.init_schema()
    store.create_player("p1", "h1", STATE, entry(0))
    store.close()
    runner = DirectSqlite(tmp_path / "game.db", busy_timeout=1.0)
    yield runner
    runner.close()


def test_rows_read_as_sqlalchemy_rows(direct: DirectSqlite) -> None:
    q = queries_for("sqlite")

    def read(conn: Any) -> tuple[Any, ...]:
        row = conn.execute(q.player_select, {"p_id": "p1"}).first()
        return (row, conn.execute(q.player_select, {"p_id": "nobody"}).first(),
                conn.execute(q.player_by_token, {"p_hash": "h1"}).scalar(),
                conn.execute(q.player_version, {"p_id": "p1"}).scalar_one())

    row, missing, by_token, version = direct.run(False, read)
    assert row.id == "p1" and row[0] == "p1" and row.state == STATE  # JSONText decoded
    assert row.created_at.tzinfo is not None  # Timestamp: an aware datetime
    assert missing is None and by_token == "p1" and version == 0


def test_one_and_errors_are_sqlalchemys(direct: DirectSqlite) -> None:
    q = queries_for("sqlite")

    def none_found(conn: Any) -> Any:
        return conn.execute(q.player_version, {"p_id": "nobody"}).one()

    with pytest.raises(sa_exc.NoResultFound):
        direct.run(False, none_found)

    def duplicate(conn: Any) -> None:
        conn.execute(q.player_insert, {"id": "p1", "token_hash": "x", "state": {},
                                       "version": 0})

    with pytest.raises(sa_exc.IntegrityError) as info:
        direct.run(True, duplicate)
    assert isinstance(info.value.orig, sqlite3.IntegrityError)


def test_a_statement_shape_runs_with_each_statements_own_values(direct: DirectSqlite) -> None:
    """Two statements of one shape (new objects, other literal values) share one compiled
    form, and each writes its own values: SQLAlchemy's extracted parameters."""

    def add(conn: Any, key: str, value: int) -> None:
        conn.execute(insert(limit_counters).values(key=key, slot=1, value=value, expires_at=9))
        conn.commit()

    direct.run(True, add, "a", 3)
    direct.run(True, add, "b", 5)

    def read(conn: Any) -> list[tuple[str, int]]:
        rows = conn.execute(select(limit_counters.c.key, limit_counters.c.value)
                            .order_by(limit_counters.c.key)).all()
        return [(r.key, r.value) for r in rows]

    assert direct.run(False, read) == [("a", 3), ("b", 5)]
    shapes = [k for k in direct._cache if k is not None]
    assert len(shapes) == 2  # the insert's shape once, the select's once


def test_what_an_operation_leaves_open_is_rolled_back(direct: DirectSqlite) -> None:
    q = queries_for("sqlite")
    seen: list[str] = []
    direct.trace(seen.append)

    def forgets_to_commit(conn: Any) -> bool:
        conn.execute(q.player_update, {"p_id": "p1", "p_expected": 0, "p_state": {},
                                       "p_version": 1})
        return bool(conn.in_transaction())

    assert direct.run(True, forgets_to_commit) is True
    assert seen[0] == "BEGIN IMMEDIATE" and seen[-1] == "ROLLBACK"
    version = direct.run(False, lambda conn: conn.execute(
        q.player_version, {"p_id": "p1"}).scalar_one())
    assert version == 0 and direct.commits == 0


def test_an_autocommitted_write_counts_as_committed(direct: DirectSqlite) -> None:
    """SqliteThread retries an in-place operation on a busy file only if nothing was
    committed: a single write outside a transaction is committed when it returns."""
    q = queries_for("sqlite")
    direct.run(False, lambda conn: conn.execute(q.player_select, {"p_id": "p1"}).first())
    assert direct.commits == 0
    direct.run(False, lambda conn: conn.execute(
        q.narration_update, {"p_id": "p1", "p_seq": 0, "p_narration": "文", "p_degraded": False}))
    assert direct.commits == 1
