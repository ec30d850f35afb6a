"""Fixtures shared by the whole suite.

Services (PostgreSQL, Redis, nginx, chromium) are real. Without one, its tests skip with a
reason; with ``REQUIRE_SERVICES=1`` (CI) they fail instead, so CI cannot go green by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.procs import free_port
from shared.config import REPO_ROOT, Settings

pytest_plugins = ["tests.support.fake_server"]
__all__ = ["free_port", "service_missing"]  # free_port: re-exported for older test imports

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES", "") not in ("", "0", "false")
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def service_missing(name: str, reason: str) -> None:
    """Skip the test, or fail it when REQUIRE_SERVICES is set."""
    msg = f"{name} unavailable: {reason}"
    if REQUIRE_SERVICES:
        pytest.fail(msg + " (REQUIRE_SERVICES=1)")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def world():
    """The real world from data/, loaded once."""
    from shared.data import load_world

    return load_world(REPO_ROOT / "data")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file per test."""
    return f"sqlite:///{tmp_path / 'game.db'}"


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The admin URL of the machine's PostgreSQL, or skip/fail."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as exc:  # any failure means the service is not usable
        service_missing("PostgreSQL", f"{POSTGRES_ADMIN_URL}: {exc}")
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database per test, dropped afterwards."""
    import psycopg

    name = f"xianxia_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_server_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each store test runs on real SQLite and on real PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The machine's Redis (database 15 for tests), or skip/fail."""
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        service_missing("Redis", f"{REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    """Settings for an app under test: temp SQLite, no API key (offline narrator)."""
    return Settings(database_url=sqlite_url, deepseek_api_key=None, llm_backend="")


@pytest.fixture(params=["flask", "quart"])
async def api(request: pytest.FixtureRequest, settings: Settings):
    """The same API client over each app's in-process test client (Quart inside test_app)."""
    from tests.support.apiclient import ApiClient

    if request.param == "flask":
        from legacy_flask import create_app as create_flask

        app = create_flask(settings)
        yield ApiClient("flask", app.test_client(), False)
        from shared.runtime import close_sync

        close_sync(app.extensions["xianxia"])
    else:
        from quart_app import create_app as create_quart

        qapp = create_quart(settings)
        async with qapp.test_app() as test_app:
            yield ApiClient("quart", test_app.test_client(), True)
