"""Concurrent actions on one player queue up instead of racing (issue 11, items 3 and 12).

Every action is decided inside one transaction serialised per player, so on either app and
either store: 50 concurrent distinct actions on one player get at most one 409 and all the
others are applied once each, and the per-minute action limit is never exceeded however
many arrive together. The in-process ``api`` fixture covers both apps' wiring; the real
servers (gunicorn threads, hypercorn's event loop) give real concurrency.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.config import Settings
from tests.support.apiclient import TALK_NPC, ApiClient
from tests.support.servers import AppServer, start_app_server

ACTIONS = 50
RATE_LIMIT = 60  # above ACTIONS, so the first test is not rate limited
OVER_LIMIT = 90


def _talk(i: int) -> dict[str, Any]:
    return {"type": "talk", "target": TALK_NPC, "text": f"第{i}问"}


def _p99(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


# -- in process, both apps ---------------------------------------------------------------------


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    """Offline narration, a limit the burst test goes over."""
    return Settings(database_url=sqlite_url, deepseek_api_key=None, llm_backend="",
                    action_rate_per_minute=RATE_LIMIT)


async def test_a_burst_on_one_player_is_applied_in_turn(api: ApiClient) -> None:
    pid, token, _ = await api.create_player()
    replies = await asyncio.gather(*(api.act(pid, token, _talk(i)) for i in range(ACTIONS)))
    statuses = Counter(r.status for r in replies)
    assert statuses[200] >= ACTIONS - 1 and statuses[409] <= 1, statuses
    assert set(statuses) <= {200, 409}
    me = await api.get(f"/api/players/{pid}", headers={"Authorization": f"Bearer {token}"})
    assert me.json["version"] == statuses[200]
    assert sorted(r.json["seq"] for r in replies if r.status == 200) == list(
        range(1, statuses[200] + 1))


async def test_a_burst_over_the_limit_applies_exactly_the_limit(api: ApiClient) -> None:
    pid, token, _ = await api.create_player()
    replies = await asyncio.gather(*(api.act(pid, token, _talk(i)) for i in range(OVER_LIMIT)))
    statuses = Counter(r.status for r in replies)
    assert statuses[200] == RATE_LIMIT and statuses[429] == OVER_LIMIT - RATE_LIMIT, statuses
    me = await api.get(f"/api/players/{pid}", headers={"Authorization": f"Bearer {token}"})
    assert me.json["version"] == RATE_LIMIT


# -- real servers, both apps, both stores -------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each server test runs on SQLite and on PostgreSQL."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite"
                                       else "postgres_url"))


@pytest.fixture(params=["flask", "quart"])
def server(request: pytest.FixtureRequest, database_url: str,
           tmp_path: Path) -> Iterator[AppServer]:
    """gunicorn (2 workers x 16 threads) or hypercorn, as deployed, offline narration."""
    env = {"DATABASE_URL": database_url, "DEEPSEEK_API_KEY": "", "LLM_BACKEND": "",
           "ACTION_RATE_PER_MINUTE": str(RATE_LIMIT)}
    started = start_app_server(request.param, env, tmp_path)
    try:
        yield started
    finally:
        started.stop()


async def _burst(client: httpx.AsyncClient, pid: str, token: str,
                 count: int) -> tuple[Counter[int], list[float], list[httpx.Response]]:
    async def one(i: int) -> tuple[httpx.Response, float]:
        start = time.perf_counter()
        r = await client.post(f"/api/players/{pid}/actions", json=_talk(i), headers={
            "Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex})
        return r, time.perf_counter() - start

    done = await asyncio.gather(*(one(i) for i in range(count)))
    return Counter(r.status_code for r, _ in done), [t for _, t in done], [r for r, _ in done]


async def _new_player(client: httpx.AsyncClient) -> tuple[str, str]:
    r = await client.post("/api/players", json={"name": "韩立"})
    assert r.status_code == 201, r.text
    return r.json()["player"]["id"], r.json()["token"]


async def _version(client: httpx.AsyncClient, pid: str, token: str) -> int:
    r = await client.get(f"/api/players/{pid}", headers={"Authorization": f"Bearer {token}"})
    return int(r.json()["version"])


async def test_fifty_concurrent_actions_on_one_player_on_a_real_server(
    server: AppServer, database_url: str
) -> None:
    limits = httpx.Limits(max_connections=ACTIONS + OVER_LIMIT)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60.0,
                                 limits=limits) as client:
        pid, token = await _new_player(client)
        statuses, took, replies = await _burst(client, pid, token, ACTIONS)
        store = database_url.split(":", 1)[0]
        print(f"\n{server.kind}/{store}: {ACTIONS} concurrent actions on one player: "
              f"{dict(statuses)}, p99 {_p99(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms")
        assert set(statuses) <= {200, 409}, (statuses, server.log_text()[-2000:])
        assert statuses[409] <= 1, statuses
        assert await _version(client, pid, token) == statuses[200]  # each applied once
        seqs = sorted(r.json()["seq"] for r in replies if r.status_code == 200)
        assert seqs == list(range(1, statuses[200] + 1))

        # The limit holds with many more than it in flight at once.
        pid, token = await _new_player(client)
        statuses, took, _ = await _burst(client, pid, token, OVER_LIMIT)
        print(f"{server.kind}/{store}: {OVER_LIMIT} concurrent against a limit of "
              f"{RATE_LIMIT}/min: {dict(statuses)}, p99 {_p99(took) * 1000:.0f} ms")
        assert statuses[200] == RATE_LIMIT, statuses
        assert statuses[429] == OVER_LIMIT - RATE_LIMIT, statuses
        assert await _version(client, pid, token) == RATE_LIMIT


# -- a replay fills prose a crash cut (issue 11, item 13) ---------------------------------------


async def test_a_replay_of_an_entry_without_prose_stores_the_prose(
    api: ApiClient, sqlite_url: str
) -> None:
    import sqlite3

    pid, token, _ = await api.create_player()
    first = await api.act(pid, token, _talk(0), headers={"Idempotency-Key": "crash-1"})
    assert first.status == 200 and first.json["narration"] is not None
    # The process died between the commit and the prose: the entry has none.
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE action_log SET narration = NULL, degraded = NULL WHERE seq = 1")
    auth = {"Authorization": f"Bearer {token}"}
    log = await api.get(f"/api/players/{pid}/log", headers=auth)
    assert log.json["entries"][0]["narration"] is None

    again = await api.act(pid, token, _talk(0), headers={"Idempotency-Key": "crash-1"})
    assert again.status == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json["seq"] == 1 and again.json["version"] == first.json["version"]
    told = again.json["narration"]
    assert told is not None and told["text"]
    log = await api.get(f"/api/players/{pid}/log", headers=auth)
    assert log.json["entries"][0]["narration"] == told["text"]  # stored this time
    # A further replay answers the stored prose, byte for byte.
    third = await api.act(pid, token, _talk(0), headers={"Idempotency-Key": "crash-1"})
    assert third.body == again.body


async def test_a_streamed_replay_of_an_entry_without_prose_stores_the_prose(
    api: ApiClient, sqlite_url: str
) -> None:
    import sqlite3

    pid, token, _ = await api.create_player()
    first = await api.act(pid, token, _talk(0), headers={"Idempotency-Key": "crash-2"})
    assert first.status == 200
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE action_log SET narration = NULL, degraded = NULL WHERE seq = 1")
    again = await api.act(pid, token, _talk(0), headers={
        "Idempotency-Key": "crash-2", "Accept": "text/event-stream"})
    assert again.status == 200 and again.headers.get("Idempotent-Replayed") == "true"
    events = dict(again.sse_events())
    streamed = events["done"]["narration"]["text"]
    log = await api.get(f"/api/players/{pid}/log", headers={"Authorization": f"Bearer {token}"})
    assert log.json["entries"][0]["narration"] == streamed
