"""The raw LLM endpoint on both apps with the fake DeepSeek server: online, failing and
degrading, and what ``/metrics`` then says."""

from __future__ import annotations

import pytest

from shared.config import Settings
from tests.support.apiclient import ApiClient


@pytest.fixture
def settings(sqlite_url: str, fake) -> Settings:
    """Both apps narrated by the fake, with one retry so faults resolve quickly."""
    fake.configure(latency=0.0)
    return fake.settings(database_url=sqlite_url, llm_max_retries=1, breaker_failures=100)


async def _auth(api: ApiClient) -> dict[str, str]:
    _, token, _ = await api.create_player()
    return {"Authorization": f"Bearer {token}"}


async def test_llm_post_and_get_answer_from_the_model(api: ApiClient, fake) -> None:
    auth = await _auth(api)
    told = fake.stats()["chat"]  # the creation's opening story was narrated too
    r = await api.post("/api/llm", json_body={"prompt": "描写青云山的晨雾"}, headers=auth)
    assert r.status == 200, r.text
    body = r.json
    assert body["degraded"] is False
    assert body["text"] and body["model"] == "deepseek-v4-flash"
    assert body["usage"]["total_tokens"] > 0
    g = await api.get("/api/llm", query={"prompt": "问道"}, headers=auth)
    assert g.status == 200 and g.json["degraded"] is False
    assert fake.stats()["chat"] == told + 2
    assert (await api.get("/healthz")).json["llm_mode"] == "online"


async def test_upstream_failure_degrades_and_is_counted(api: ApiClient, fake) -> None:
    auth = await _auth(api)
    told = fake.stats()["chat"]  # the creation's opening story was narrated too
    fake.configure(faults=["503", "503"])  # the call and its one retry both fail
    r = await api.post("/api/llm", json_body={"prompt": "描写青云山的晨雾"}, headers=auth)
    assert r.status == 200
    assert r.json["degraded"] is True and r.json["text"]
    assert fake.stats()["chat"] == told + 2
    text = (await api.get("/metrics")).text
    assert 'xianxia_llm_calls_total{attempts="2",outcome="status_503"}' in text
    assert 'xianxia_narrations_degraded_total{reason="status_503"}' in text
    assert "xianxia_llm_breaker_state" in text
