"""Configured limits (action rate, body size), against both apps with tight settings."""

from __future__ import annotations

import pytest

from shared.config import Settings
from tests.support.apiclient import ApiClient


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    """Tight limits so the tests can reach them quickly."""
    return Settings(database_url=sqlite_url, deepseek_api_key=None, action_rate_per_minute=3,
                    max_body_bytes=2048, player_text_max=50)


async def test_action_rate_limit_is_429_and_changes_nothing(api: ApiClient) -> None:
    pid, token, _ = await api.create_player()
    for _ in range(3):
        assert (await api.chat(pid, token)).status == 200
    r = await api.chat(pid, token)
    assert r.status == 429
    assert r.json == {"error": {"code": "rate_limited",
                                "message": "每分钟最多 3 次行动，请稍后再试。"}}
    assert r.headers["Retry-After"] == "60"
    me = await api.get(f"/api/players/{pid}", headers={"Authorization": f"Bearer {token}"})
    assert me.json["version"] == 3


async def test_body_over_limit_is_413(api: ApiClient) -> None:
    r = await api.post("/api/players", data=b'{"name": "' + b"a" * 4000 + b'"}',
                       headers={"Content-Type": "application/json"})
    assert r.status == 413
    assert r.json == {"error": {"code": "payload_too_large",
                                "message": "The request body is too large."}}


async def test_talk_text_limit_follows_settings(api: ApiClient) -> None:
    pid, token, _ = await api.create_player()
    r = await api.act(pid, token, {"type": "talk", "text": "问" * 51})
    assert r.status == 400
    assert r.json["error"]["message"] == "text: at most 50 characters (got 51)"
