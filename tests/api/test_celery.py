"""Celery mode through both apps' HTTP API, with a real worker on real Redis.

A task submitted through one app is polled through the other; an action returns its outcome
at once and its narration through the task; ``/api/llm`` waits for the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devtools.procs import FakeDeepSeek
from legacy_flask import create_app as create_flask
from quart_app import create_app as create_quart
from shared.runtime import close_sync
from tests.support.apiclient import TALK_NPC, ApiClient
from tests.tasks.test_worker import Rig, _rig

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
async def celery_apps(redis_url: str, fake: FakeDeepSeek, sqlite_url: str,
                      tmp_path: Path) -> AsyncIterator[tuple[ApiClient, ApiClient, Rig]]:
    fake.configure(latency=0.05)
    with _rig(redis_url, fake, sqlite_url, tmp_path) as rig:
        rig.workers.start()
        settings = rig.settings.with_(llm_backend="celery")
        flask_app = create_flask(settings)
        quart_app = create_quart(settings)
        try:
            async with quart_app.test_app() as test_app:
                yield (ApiClient("flask", flask_app.test_client(), False),
                       ApiClient("quart", test_app.test_client(), True), rig)
        finally:
            close_sync(flask_app.extensions["xianxia"])


async def _poll(api: ApiClient, url: str, timeout: float = 20.0) -> dict[str, Any]:
    for _ in range(int(timeout / 0.1)):
        r = await api.get(url)
        assert r.status == 200, r.text
        if r.json["state"] in ("SUCCESS", "FAILURE"):
            return r.json
        await asyncio.sleep(0.1)
    pytest.fail(f"{url} did not finish in {timeout}s")


async def test_task_submitted_on_one_app_is_polled_on_the_other(celery_apps) -> None:
    flask_api, quart_api, _ = celery_apps
    _, token, _ = await flask_api.create_player()
    auth = {"Authorization": f"Bearer {token}"}
    for submit, poll in ((flask_api, quart_api), (quart_api, flask_api)):
        r = await submit.post("/api/llm/tasks", json_body={"prompt": "青云山的云海"},
                              headers=auth)
        assert r.status == 202, r.text
        assert r.json["status_url"] == f"/api/llm/tasks/{r.json['task_id']}"
        done = await _poll(poll, r.json["status_url"])
        assert done["state"] == "SUCCESS"
        assert done["result"]["text"] and done["result"]["degraded"] is False
    health = (await quart_api.get("/healthz")).json
    assert health["llm_backend"] == "celery"
    missing = await flask_api.get("/api/llm/tasks/0b9d2f7e-6a51-4a07-9a3c-8d2b4e1f0c55")
    assert missing.status == 404
    assert missing.json["error"]["code"] == "task_not_found"


async def test_action_returns_outcome_now_and_narration_through_the_task(celery_apps) -> None:
    flask_api, quart_api, _ = celery_apps
    pid, token, _ = await quart_api.create_player()
    r = await quart_api.act(pid, token, {"type": "talk", "target": TALK_NPC, "text": "请赐教"})
    assert r.status == 200, r.text
    body = r.json
    assert body["narration"] is None
    task = body["narration_task"]
    done = await _poll(flask_api, task["status_url"])
    assert done["state"] == "SUCCESS"
    log = await flask_api.get(f"/api/players/{pid}/log",
                              headers={"Authorization": f"Bearer {token}"})
    assert log.json["entries"][0]["narration"] == done["result"]["text"]


async def test_creation_story_is_narrated_by_the_worker(celery_apps) -> None:
    flask_api, quart_api, _ = celery_apps
    for create, poll in ((flask_api, quart_api), (quart_api, flask_api)):
        pid, token, body = await create.create_player()
        assert body["narration"] is None and body["token"] == token
        done = await _poll(poll, body["narration_task"]["status_url"])
        assert done["state"] == "SUCCESS" and done["result"]["degraded"] is False
        log = await poll.get(f"/api/players/{pid}/log",
                             headers={"Authorization": f"Bearer {token}"})
        (entry,) = log.json["entries"]
        assert entry["seq"] == 0 and entry["narration"] == done["result"]["text"]


async def test_raw_llm_endpoint_waits_for_the_worker(celery_apps) -> None:
    _, token, _ = await celery_apps[0].create_player()
    for api in celery_apps[:2]:
        r = await api.post("/api/llm", json_body={"prompt": "一句话描述筑基"},
                           headers={"Authorization": f"Bearer {token}"})
        assert r.status == 200, r.text
        assert r.json["text"] and r.json["degraded"] is False


async def test_readyz_is_503_in_celery_mode_when_redis_is_down(sqlite_url: str) -> None:
    from shared.config import Settings
    from tests.conftest import free_port

    settings = Settings(database_url=sqlite_url, llm_backend="celery",
                        redis_url=f"redis://127.0.0.1:{free_port()}/0")
    flask_app = create_flask(settings)
    quart_app = create_quart(settings)
    try:
        async with quart_app.test_app() as test_app:
            for api in (ApiClient("flask", flask_app.test_client(), False),
                        ApiClient("quart", test_app.test_client(), True)):
                r = await api.get("/readyz")
                assert r.status == 503, r.text
                assert r.json["error"]["code"] == "not_ready"
                assert "Redis" in r.json["error"]["message"]
    finally:
        close_sync(flask_app.extensions["xianxia"])
