"""Issue 11 item 1 on real servers: with a key set and the recording fake upstream, 30
concurrent anonymous calls to each LLM route of each app get 30 x 401 and make 0 upstream
calls; a player's token gets the model."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_live_edges import GUNICORN_LIMITS
from tests.support.servers import AppServer, both_apps

pytestmark = pytest.mark.slow

CALLS = 30
ROUTES = (("POST", "/api/llm", {"prompt": "青云山"}), ("GET", "/api/llm?prompt=%E9%97%AE", None),
          ("POST", "/api/llm/tasks", {"prompt": "青云山"}))


@pytest.fixture(scope="module")
def paid_servers(tmp_path_factory: pytest.TempPathFactory,
                 fake_deepseek: Any) -> Iterator[dict[str, AppServer]]:
    """Both apps with an API key, narrated by the fake (each call would be paid)."""
    tmp = tmp_path_factory.mktemp("live-llm")
    env = {"DATABASE_URL": f"sqlite:///{tmp / 'game.db'}",
           "DEEPSEEK_API_KEY": fake_deepseek.api_key, "DEEPSEEK_BASE_URL": fake_deepseek.base_url,
           "LLM_BACKEND": "",
           "LLM_MAX_RETRIES": "0", "GUNICORN_CMD_ARGS": GUNICORN_LIMITS}
    with both_apps(env, Path(tmp)) as started:
        yield started


def _call(base: str, method: str, path: str, body: Any,
          headers: dict[str, str] | None = None) -> int:
    with httpx.Client(base_url=base, timeout=30, trust_env=False) as client:
        return client.request(method, path, json=body, headers=headers).status_code


@pytest.mark.parametrize("kind", ["flask", "quart"])
def test_30_concurrent_anonymous_calls_are_401_and_cost_nothing(
    paid_servers: dict[str, AppServer], fake_deepseek: Any, kind: str
) -> None:
    fake_deepseek.reset()
    base = paid_servers[kind].base_url
    with ThreadPoolExecutor(CALLS) as pool:
        for method, path, body in ROUTES:
            statuses = list(pool.map(_call, [base] * CALLS, [method] * CALLS, [path] * CALLS,
                                     [body] * CALLS))
            assert statuses == [401] * CALLS, (method, path, statuses)
    assert fake_deepseek.stats()["chat"] == 0
    # The same route with a player's token reaches the model.
    created = httpx.post(base + "/api/players", json={"name": "韩立"}, timeout=30)
    assert created.status_code == 201
    token = created.json()["token"]
    told = fake_deepseek.stats()["chat"]  # the creation's opening story is narrated too
    assert told == (0 if created.json()["narration"]["degraded"] else 1)
    status = _call(base, "POST", "/api/llm", {"prompt": "青云山"},
                   {"Authorization": f"Bearer {token}"})
    assert status == 200
    assert fake_deepseek.stats()["chat"] == told + 1
