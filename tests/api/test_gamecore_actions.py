"""Issue 9 actions and errors on both apps: hidden fate, choose/flee/prepare/ascend, 409."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config import Settings
from shared.data import World
from tests.api.test_gameworld_actions import seed_state
from tests.support.apiclient import ApiClient

MAX_EXPLORES = 120  # the start village's choice event has weight 3 of about 25


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    """Offline, temp SQLite, and no rate limit: these scripts take hundreds of actions."""
    return Settings(database_url=sqlite_url, deepseek_api_key=None, llm_backend="",
                    action_rate_per_minute=0)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_fate_secret_never_leaves_the_server(api: ApiClient) -> None:
    r = await api.post("/api/players", json_body={"name": "韩立"})
    assert r.status == 201
    pid, token = r.json["player"]["id"], r.json["token"]
    assert "fate_secret" not in r.json["player"] and "fate_secret" not in r.text
    assert r.json["player"]["fate_counter"] == 0
    acted = await api.act(pid, token, {"type": "cultivate"})
    assert acted.status == 200
    assert "fate_secret" not in acted.text
    assert acted.json["player"]["fate_counter"] == 1
    me = await api.get(f"/api/players/{pid}", headers=auth(token))
    assert "fate_secret" not in me.text
    log = await api.get(f"/api/players/{pid}/log", headers=auth(token))
    assert log.status == 200 and "fate_secret" not in log.text


async def test_new_action_refusals(api: ApiClient) -> None:
    pid, token, _ = await api.create_player()
    for action, code in (({"type": "prepare"}, "not_enough_stones"),
                         ({"type": "ascend"}, "not_at_peak"),
                         ({"type": "flee"}, "nothing_to_flee"),
                         ({"type": "choose", "target": "leave"}, "no_pending_choice")):
        r = await api.act(pid, token, action)
        assert r.status == 422, r.text
        assert r.json["error"]["code"] == code
        assert r.json["error"]["message"]
    me = await api.get(f"/api/players/{pid}", headers=auth(token))
    assert me.json["version"] == 0


async def _explore_until_choice(api: ApiClient, pid: str, token: str) -> dict[str, Any]:
    for _ in range(MAX_EXPLORES):
        r = await api.act(pid, token, {"type": "explore"})
        if r.status == 422 and r.json["error"]["code"] == "dead":
            assert (await api.act(pid, token, {"type": "rest"})).status == 200
            continue
        assert r.status == 200, r.text
        if r.json["player"]["pending_choice"]:
            return r.json
    raise AssertionError("no choice event met")


async def test_a_pending_choice_gets_409_until_chosen(api: ApiClient) -> None:
    pid, token, _ = await api.create_player()
    body = await _explore_until_choice(api, pid, token)
    event = body["player"]["pending_choice"]
    choice = next(e for e in body["outcome"]["events"] if e["type"] == "choice")
    assert choice["event"] == event and {"leave"} <= {o["id"] for o in choice["options"]}
    blocked = await api.act(pid, token, {"type": "cultivate"})
    assert blocked.status == 409
    assert blocked.json["error"]["code"] == "choice_pending"
    assert "choose" in blocked.json["error"]["message"]
    wrong = await api.act(pid, token, {"type": "choose", "target": "dance"})
    assert wrong.status == 422 and wrong.json["error"]["code"] == "unknown_option"
    chosen = await api.act(pid, token, {"type": "choose", "target": "leave"})
    assert chosen.status == 200, chosen.text
    assert chosen.json["player"]["pending_choice"] is None
    assert chosen.json["outcome"]["events"][0]["option"] == "leave"
    assert (await api.act(pid, token, {"type": "explore"})).status == 200  # unblocked


async def test_the_first_great_threshold_needs_its_gate(api: ApiClient, settings: Settings,
                                                       world: World) -> None:
    """At 练气圆满 with full qi, the breakthrough to 筑基 is refused until prepared."""
    pid, token, _ = await api.create_player()
    last = len(world.realms[0].stages) - 1
    # Fate decides how long the climb takes; the gate is what is tested, so start at the top.
    seed_state(settings, pid, realm=world.realms[0].id, stage=last,
               qi=world.realms[0].stages[last].qi_required)
    br = await api.act(pid, token, {"type": "breakthrough"})
    assert br.status == 422, br.text
    assert br.json["error"]["code"] == "gate_not_met"
    assert "筑基" in br.json["error"]["message"]
    assert "prepare" in br.json["error"]["message"]
    me = await api.get(f"/api/players/{pid}", headers=auth(token))
    assert me.json["version"] == 0  # the refusal changed nothing
