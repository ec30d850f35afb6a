"""Fixtures of the API tests: both apps side by side on one store, for parity checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from shared.config import Settings
from tests.support.apiclient import ApiClient, ApiResponse


@dataclass
class AppPair:
    """Flask and Quart over the same settings and database, and their runtimes."""

    flask: ApiClient
    quart: ApiClient
    flask_runtime: Any
    quart_runtime: Any

    @property
    def clients(self) -> tuple[ApiClient, ApiClient]:
        """Flask first, then Quart."""
        return self.flask, self.quart

    async def same(self, method: str, path: str, **kw: Any) -> ApiResponse:
        """Send one request to each app; assert the same status, the same body bytes and a
        JSON content type on an error; return Flask's answer."""
        a = await self.flask.request(method, path, **kw)
        b = await self.quart.request(method, path, **kw)
        assert (a.status, a.body) == (b.status, b.body), (a.status, a.text, b.status, b.text)
        if a.status >= 400:
            for r in (a, b):
                assert r.headers["Content-Type"].startswith("application/json")
                assert set(r.json) == {"error"} and set(r.json["error"]) == {"code", "message"}
        return a


@pytest.fixture
async def pair(settings: Settings) -> AsyncIterator[AppPair]:
    """Both apps built from the test's ``settings`` (one SQLite file), served in-process."""
    from legacy_flask import create_app as create_flask
    from quart_app import create_app as create_quart
    from shared.runtime import close_sync

    flask_app = create_flask(settings)
    quart_app = create_quart(settings)
    try:
        async with quart_app.test_app() as test_app:
            yield AppPair(ApiClient("flask", flask_app.test_client(), False),
                          ApiClient("quart", test_app.test_client(), True),
                          flask_app.extensions["xianxia"], quart_app.extensions["xianxia"])
    finally:
        close_sync(flask_app.extensions["xianxia"])


@pytest.fixture
async def pair_pg(postgres_url: str) -> AsyncIterator[AppPair]:
    """Both apps on one fresh PostgreSQL database."""
    settings = Settings(database_url=postgres_url, deepseek_api_key=None, llm_backend="")
    async for value in pair.__wrapped__(settings):  # type: ignore[attr-defined]
        yield value
