"""Store URLs, opening, and failures: bad URLs, dead databases, secrets kept out of errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import ConfigError
from shared.store import StoreError, open_async_store, open_store, resolve_url
from tests.conftest import free_port


@pytest.mark.parametrize(
    ("url", "backend", "sync_driver", "async_driver"),
    [
        ("sqlite:///var/game.db", "sqlite", "sqlite+pysqlite", "sqlite+pysqlite"),
        ("sqlite+pysqlite:////tmp/x/game.db", "sqlite", "sqlite+pysqlite", "sqlite+pysqlite"),
        ("sqlite+aiosqlite:////tmp/x/game.db", "sqlite", "sqlite+pysqlite", "sqlite+pysqlite"),
        ("postgresql://u@127.0.0.1/db", "postgresql", "postgresql+psycopg", "postgresql+psycopg"),
        (
            "postgresql+psycopg://127.0.0.1/db",
            "postgresql",
            "postgresql+psycopg",
            "postgresql+psycopg",
        ),
        ("postgres://127.0.0.1:5433/db", "postgresql", "postgresql+psycopg", "postgresql+psycopg"),
    ],
)
def test_urls_map_to_the_drivers_of_both_faces(
    url: str, backend: str, sync_driver: str, async_driver: str
) -> None:
    target = resolve_url(url)
    assert target.backend == backend
    assert target.sync_url.drivername == sync_driver
    assert target.async_url.drivername == async_driver


def test_relative_sqlite_paths_become_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    target = resolve_url("sqlite:///var/game.db")
    assert target.path == tmp_path / "var" / "game.db"
    assert target.sync_url.database == str(tmp_path / "var" / "game.db")


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "mysql://127.0.0.1/db", "postgresql+psycopg2://h/db", "::"],
)
def test_unusable_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        resolve_url(url)
    with pytest.raises(ConfigError):
        open_store(url)


def test_sqlite_folder_that_cannot_exist_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError):
        open_store(f"sqlite:///{blocker / 'game.db'}")
    with pytest.raises(StoreError):
        open_async_store(f"sqlite:///{blocker / 'game.db'}")


def dead_url(store_url: str, tmp_path: Path) -> str:
    """A database of the same kind that cannot answer."""
    if store_url.startswith("sqlite"):
        junk = tmp_path / "junk.db"
        junk.write_bytes(b"this is not an sqlite database" * 100)
        return f"sqlite:///{junk}"
    return f"postgresql://xianxia:s3cr3t-pw@127.0.0.1:{free_port()}/nothing"


def test_ping_on_a_dead_database_raises(store_url: str, tmp_path: Path) -> None:
    store = open_store(dead_url(store_url, tmp_path), busy_timeout=1.0)
    with pytest.raises(StoreError) as info:
        store.ping()
    assert info.value.status == 503 and info.value.code == "store_unavailable"
    assert isinstance(info.value.__cause__, Exception)
    assert "s3cr3t-pw" not in info.value.message and "s3cr3t-pw" not in repr(store)
    store.close()


async def test_async_ping_on_a_dead_database_raises(store_url: str, tmp_path: Path) -> None:
    store = open_async_store(dead_url(store_url, tmp_path), busy_timeout=1.0)
    with pytest.raises(StoreError) as info:
        await store.ping()
    assert "s3cr3t-pw" not in info.value.message
    await store.close()


def test_opening_does_not_connect(tmp_path: Path) -> None:
    """open_store is cheap and side-effect free beyond the folder: no file until first use."""
    url = f"sqlite:///{tmp_path / 'lazy.db'}"
    store = open_store(url)
    assert not (tmp_path / "lazy.db").exists()
    store.ping()
    assert (tmp_path / "lazy.db").exists()
    store.close()


async def test_closing_twice_is_harmless_and_closed_writes_fail_cleanly(sqlite_url: str) -> None:
    store = open_async_store(sqlite_url)
    await store.init_schema()
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.set_narration("p1", 0, "文", False)
    sync = open_store(sqlite_url)
    sync.close()
    sync.close()


def test_the_removed_aiosqlite_path_is_refused_clearly(sqlite_url: str) -> None:
    with pytest.raises(ConfigError, match="aiosqlite"):
        open_async_store(sqlite_url, sqlite_writes="aiosqlite")  # type: ignore[arg-type]
