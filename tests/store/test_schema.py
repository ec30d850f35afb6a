"""Schema creation and migration: idempotent, versioned, and safe to repeat."""

from __future__ import annotations

from sqlalchemy import inspect

from shared.store import SCHEMA_VERSION, open_async_store, open_store
from shared.store.schema import MIGRATIONS
from tests.store.test_concurrency import applied_migrations
from tests.store.test_faces import STATE, entry


def index_names(store) -> set[str]:
    with store.engine.connect() as conn:
        return {ix["name"] for ix in inspect(conn).get_indexes("action_log")}


def test_init_schema_twice_changes_nothing(store_url: str) -> None:
    store = open_store(store_url)
    assert store.init_schema() == SCHEMA_VERSION
    store.create_player("p1", "h", STATE, entry(0))
    assert store.init_schema() == SCHEMA_VERSION
    assert applied_migrations(store) == [m.version for m in MIGRATIONS]
    assert store.get_player("p1").state == STATE
    with store.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    assert {"players", "action_log", "schema_version"} <= tables
    store.close()


def test_an_older_schema_is_migrated_in_place(store_url: str) -> None:
    store = open_store(store_url)
    assert store.init_schema(upto=1) == 1
    assert "ix_action_log_player_created" not in index_names(store)
    store.create_player("p1", "h", STATE, entry(0))
    assert store.init_schema() == SCHEMA_VERSION
    assert "ix_action_log_player_created" in index_names(store)
    assert applied_migrations(store) == list(range(1, SCHEMA_VERSION + 1))
    assert store.get_player("p1").state == STATE
    store.close()


def test_upto_zero_creates_only_the_version_table(store_url: str) -> None:
    store = open_store(store_url)
    assert store.init_schema(upto=0) == 0
    with store.engine.connect() as conn:
        assert inspect(conn).get_table_names() == ["schema_version"]
    assert applied_migrations(store) == []
    store.close()


async def test_async_face_migrates_the_same_way(store_url: str) -> None:
    face = open_async_store(store_url)
    assert await face.init_schema(upto=1) == 1
    assert await face.init_schema() == SCHEMA_VERSION
    await face.close()
    sync = open_store(store_url)
    assert applied_migrations(sync) == list(range(1, SCHEMA_VERSION + 1))
    sync.close()


def test_migrations_are_numbered_in_order() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert all(m.description and m.ddl() for m in MIGRATIONS)
