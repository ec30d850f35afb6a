"""Who may spend the operator's LLM money (issue 11 items 1 and 2): the LLM routes need a
player's bearer token and count against its limits, token budgets send the narrator
offline, and player creation is limited per client address. Both apps, fake upstream."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.config import Settings
from tests.api.conftest import AppPair
from tests.support.apiclient import TALK_NPC

ANON_CALLS = 30


@pytest.fixture
def settings(sqlite_url: str, fake) -> Settings:
    """Both apps narrated by the recording fake (a key is set: calls would be paid)."""
    fake.configure(latency=0.0)
    return fake.settings(database_url=sqlite_url, llm_max_retries=0, breaker_failures=100,
                         llm_backend="")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _within_one_minute(seconds: float = 10.0) -> None:
    """Wait for the next minute when this one ends within ``seconds``: the minute budget's
    window follows the real clock, and a test that spends it must not straddle two."""
    left = 60 - time.time() % 60
    if left < seconds:
        await asyncio.sleep(left + 0.2)


async def test_anonymous_llm_calls_are_401_and_reach_no_upstream(pair: AppPair, fake) -> None:
    calls = []
    for api in pair.clients:
        calls += [api.post("/api/llm", json_body={"prompt": "青云山"}) for _ in range(ANON_CALLS)]
        calls += [api.get("/api/llm?prompt=%E9%97%AE") for _ in range(ANON_CALLS)]
        calls += [api.post("/api/llm/tasks", json_body={"prompt": "青云山"})
                  for _ in range(ANON_CALLS)]
        # A token in the query string is no token.
        calls += [api.get("/api/llm?prompt=x&token=pt_x&access_token=pt_x")
                  for _ in range(ANON_CALLS)]
    answers = await asyncio.gather(*calls)
    assert len(answers) == 2 * 4 * ANON_CALLS
    assert {r.status for r in answers} == {401}
    assert {r.json["error"]["code"] for r in answers} == {"unauthorized"}
    assert fake.stats()["chat"] == 0


async def test_unknown_token_is_404_and_reaches_no_upstream(pair: AppPair, fake) -> None:
    for path, body in (("/api/llm", {"prompt": "青云山"}), ("/api/llm/tasks", {"prompt": "x"})):
        r = await pair.same("POST", path, json_body=body, headers=_auth("pt_nobody"))
        assert r.status == 404 and r.json["error"]["code"] == "player_not_found"
    assert fake.stats()["chat"] == 0


async def test_a_players_token_gets_the_model(pair: AppPair, fake) -> None:
    _, token, _ = await pair.flask.create_player()
    told = fake.stats()["chat"]  # the creation's opening story was narrated too
    for api in pair.clients:
        r = await api.post("/api/llm", json_body={"prompt": "青云山"}, headers=_auth(token))
        assert r.status == 200 and r.json["degraded"] is False and r.json["reason"] is None
        g = await api.get("/api/llm?prompt=%E9%97%AE", headers=_auth(token))
        assert g.status == 200 and g.json["degraded"] is False
    assert fake.stats()["chat"] == told + 4


@pytest.mark.parametrize("tight", [{"llm_rate_per_minute": 3}])
async def test_llm_calls_count_against_the_players_rate(sqlite_url: str, fake, tight) -> None:
    await _within_one_minute()
    settings = fake.settings(database_url=sqlite_url, llm_max_retries=0, **tight)
    async for pair in _pair(settings):
        _, token, _ = await pair.flask.create_player()
        told = fake.stats()["chat"]  # the opening story is a narration, not an LLM route call
        statuses = []
        for api in (pair.flask, pair.quart, pair.flask, pair.quart):
            r = await api.post("/api/llm", json_body={"prompt": "青云山"}, headers=_auth(token))
            statuses.append(r.status)
        assert statuses == [200, 200, 200, 429]  # one limit across both apps
        assert r.json["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert "每分钟最多调用 3 次" in r.json["error"]["message"]
        assert fake.stats()["chat"] == told + 3


async def _pair(settings: Settings):
    from tests.api.conftest import pair as make_pair

    async for value in make_pair.__wrapped__(settings):  # type: ignore[attr-defined]
        yield value


async def test_player_over_its_daily_budget_is_narrated_offline(sqlite_url: str, fake) -> None:
    # Each call reserves 1,500 tokens: a 1,500-token budget allows one call a day (settled to
    # its real usage, the next reservation no longer fits).
    settings = fake.settings(database_url=sqlite_url, llm_max_retries=0,
                             llm_player_daily_tokens=1500, llm_call_reserve_tokens=1500)
    async for pair in _pair(settings):
        # The opening story of the creation is the one call of the day, like an action's.
        pid, token, created = await pair.flask.create_player()
        assert created["narration"]["degraded"] is False
        assert fake.stats()["chat"] == 1
        for api in pair.clients:
            r = await api.act(pid, token, {"type": "talk", "target": TALK_NPC, "text": "再会"})
            assert r.status == 200
            assert r.json["narration"]["degraded"] is True and r.json["narration"]["text"]
            assert r.headers["Narration-Degraded-Reason"] == "player_budget"
            raw = await api.post("/api/llm", json_body={"prompt": "青云山"}, headers=_auth(token))
            assert raw.status == 200
            assert raw.json["degraded"] is True and raw.json["reason"] == "player_budget"
            sse = await api.act(pid, token, {"type": "rest"},
                                headers={"Accept": "text/event-stream"})
            assert sse.status in (200, 422)
        assert fake.stats()["chat"] == 1  # the fake saw no call past the budget
        me = await pair.flask.get(f"/api/players/{pid}", headers=_auth(token))
        assert me.json["version"] >= 2  # the offline-narrated actions still counted
        # Another player has its own budget.
        _, _, other = await pair.quart.create_player("南宫婉")
        assert other["narration"]["degraded"] is False
        assert fake.stats()["chat"] == 2


async def test_global_minute_budget_sends_everyone_offline(sqlite_url: str, fake) -> None:
    await _within_one_minute()
    settings = fake.settings(database_url=sqlite_url, llm_max_retries=0,
                             llm_global_minute_tokens=1500, llm_call_reserve_tokens=1500)
    async for pair in _pair(settings):
        a, ta, first = await pair.flask.create_player()  # its opening story spends the minute
        assert first["narration"]["degraded"] is False
        b, tb, second = await pair.quart.create_player("南宫婉")
        assert second["narration"]["degraded"] is True
        for api, pid, token in ((pair.quart, b, tb), (pair.flask, a, ta)):
            r = await api.chat(pid, token)
            assert r.status == 200 and r.json["narration"]["degraded"] is True
            assert r.headers["Narration-Degraded-Reason"] == "global_minute_budget"
        assert fake.stats()["chat"] == 1
        for api in pair.clients:
            text = (await api.get("/metrics")).text
            assert 'xianxia_llm_budget_limit_tokens{window="minute"} 1500' in text
            spent = [line for line in text.splitlines()
                     if line.startswith('xianxia_llm_budget_spent_tokens{window="minute"}')]
            assert spent and 0 < int(spent[0].split()[-1]) <= 1500
            assert 'xianxia_llm_budget_left_tokens{window="day"}' in text


async def test_concurrent_calls_never_spend_past_the_budget(sqlite_url: str, fake) -> None:
    # Budget for 4 reservations; 20 calls at once: at most 4 reach the upstream.
    fake.configure(latency=0.05)
    settings = fake.settings(database_url=sqlite_url, llm_max_retries=0,
                             llm_player_daily_tokens=6000, llm_call_reserve_tokens=1500,
                             llm_rate_per_minute=0)
    async for pair in _pair(settings):
        _, token, _ = await pair.flask.create_player()  # its opening story takes one
        calls = [pair.quart.post("/api/llm", json_body={"prompt": f"问{i}"}, headers=_auth(token))
                 for i in range(20)]
        answers = await asyncio.gather(*calls)
        assert {r.status for r in answers} == {200}
        online = sum(1 for r in answers if not r.json["degraded"])
        assert 1 <= online <= 3
        assert fake.stats()["chat"] == online + 1


# -- creation limits (item 2) --------------------------------------------------------------


async def _create_from(pair: AppPair, app: str, peer: str, forwarded: str | None) -> int:
    """POST /api/players with the TCP peer ``peer`` (the test clients' own default peers
    differ: 127.0.0.1 in Flask, none in Quart)."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    if app == "flask":
        resp = pair.flask._client.open("/api/players", method="POST", json={"name": "韩立"},
                                       headers=headers, environ_base={"REMOTE_ADDR": peer})
        return int(resp.status_code)
    resp = await pair.quart._client.open("/api/players", method="POST", json={"name": "韩立"},
                                         headers=headers,
                                         scope_base={"client": (peer, 40000)})
    return int(resp.status_code)


async def test_creation_is_limited_per_client_address(sqlite_url: str) -> None:
    await _within_one_minute()
    settings = Settings(database_url=sqlite_url, create_rate_per_minute=3,
                        trusted_proxies="10.9.9.9")
    async for pair in _pair(settings):
        # Not from a trusted proxy: a forged X-Forwarded-For changes nothing; one count
        # across both apps.
        got = [await _create_from(pair, app, "203.0.113.9", f"198.51.100.{i}")
               for i, app in enumerate(("flask", "quart", "flask", "quart"))]
        assert got == [201, 201, 201, 429]
        r = await pair.quart.post("/api/players", json_body={"name": "韩立"})
        assert r.status == 201  # another address has its own count
        for api in pair.clients:
            for _ in range(4):
                r = await api.post("/api/players", json_body={"name": "韩立"})
            assert r.status == 429 and r.json["error"]["code"] == "rate_limited"
            assert 1 <= int(r.headers["Retry-After"]) <= 60
            assert "每分钟最多创建 3 位修士" in r.json["error"]["message"]


async def test_creation_limit_reads_forwarded_for_from_trusted_proxies(sqlite_url: str) -> None:
    await _within_one_minute()
    settings = Settings(database_url=sqlite_url, create_rate_per_minute=2,
                        trusted_proxies="10.0.0.1")
    async for pair in _pair(settings):
        for client in ("198.51.100.7", "198.51.100.8"):
            got = [await _create_from(pair, app, "10.0.0.1", f"6.6.6.6, {client}")
                   for app in ("flask", "quart", "flask")]
            assert got == [201, 201, 429], client


async def test_limits_hold_across_both_apps_in_redis(sqlite_url: str, redis_url: str) -> None:
    import uuid

    await _within_one_minute()
    settings = Settings(database_url=sqlite_url, create_rate_per_minute=2, limits_backend="redis",
                        redis_url=redis_url)
    peer = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"  # fresh in a shared Redis
    async for pair in _pair(settings):
        got = [await _create_from(pair, app, peer, None) for app in ("quart", "flask", "quart")]
        assert got == [201, 201, 429]


def test_client_address_rules() -> None:
    from shared.limits.addresses import client_address

    trusted = "127.0.0.1,10.0.0.0/8"
    assert client_address("203.0.113.5", "1.2.3.4", trusted) == "203.0.113.5"
    assert client_address("127.0.0.1", "1.2.3.4", trusted) == "1.2.3.4"
    assert client_address("127.0.0.1", "9.9.9.9, 1.2.3.4, 10.1.1.1", trusted) == "1.2.3.4"
    assert client_address("127.0.0.1", "not-an-ip", trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", None, trusted) == "127.0.0.1"
    assert client_address(None, None, trusted) == "unknown"


async def test_metrics_show_the_budgets_on_both_apps(pair: AppPair) -> None:
    for api in pair.clients:
        text = (await api.get("/metrics")).text
        for window in ("minute", "day"):
            assert f'xianxia_llm_budget_spent_tokens{{window="{window}"}} 0' in text
        assert "xianxia_llm_player_daily_budget_tokens 100000" in text


