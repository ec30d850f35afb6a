"""Sects, shops, crafting, favour and quests through both apps (the ``api`` fixture).

A few tests seed a richer cultivator by rewriting the stored state (the rules' own JSON), as the
start of the game is too poor to reach a furnace in a handful of requests.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from shared.config import Settings
from tests.support.apiclient import ApiClient


def seed_state(settings: Settings, player_id: str, **changes: Any) -> None:
    """Overwrite fields of a stored player's state (SQLite test database)."""
    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        (raw,) = conn.execute("select state from players where id = ?", (player_id,)).fetchone()
        state = {**json.loads(raw), **changes}
        conn.execute("update players set state = ? where id = ?",
                     (json.dumps(state, ensure_ascii=False), player_id))


async def ok(api: ApiClient, pid: str, token: str, action: dict[str, Any]) -> dict[str, Any]:
    r = await api.act(pid, token, action)
    assert r.status == 200, (action, r.text)
    assert r.json["outcome"]["action"] == action["type"]
    assert r.json["narration"]["text"]
    body: dict[str, Any] = r.json
    return body


async def refused(api: ApiClient, pid: str, token: str, action: dict[str, Any], code: str,
                  status: int = 422) -> None:
    r = await api.act(pid, token, action)
    assert r.status == status, (action, r.text)
    assert r.json["error"]["code"] == code, r.text
    assert r.json["error"]["message"]


async def test_trade_favour_and_a_quest_from_the_start(api: ApiClient) -> None:
    pid, token, created = await api.create_player()
    start = created["player"]
    sold = await ok(api, pid, token, {"type": "sell", "item": "huichun_dan", "count": 2})
    assert sold["player"]["spirit_stones"] > start["spirit_stones"]
    assert "huichun_dan" not in sold["player"]["inventory"]
    bought = await ok(api, pid, token, {"type": "buy", "item": "huichun_dan"})
    assert bought["player"]["inventory"]["huichun_dan"] == 1
    given = await ok(api, pid, token, {"type": "give", "target": "li_laohan",
                                       "item": "huichun_dan"})
    assert given["player"]["favour"]["li_laohan"] >= 1
    talk = await ok(api, pid, token, {"type": "talk", "target": "li_laohan"})
    assert talk["outcome"]["narration"]["facts"]["favour_level"]
    accepted = await ok(api, pid, token, {"type": "quest", "target": "village_wolves"})
    assert accepted["player"]["quests"] == {"village_wolves": 0}
    await refused(api, pid, token, {"type": "quest", "target": "village_wolves"}, "wrong_place")


async def test_sect_life_through_the_api(api: ApiClient) -> None:
    pid, token, _ = await api.create_player()
    await ok(api, pid, token, {"type": "travel", "target": "qingyun_sect"})
    joined = None
    for _ in range(6):  # the trial is a real fight; rest and retry when it is lost
        body = await ok(api, pid, token, {"type": "join_sect", "target": "qingyun"})
        if body["outcome"]["success"]:
            joined = body
            break
        await ok(api, pid, token, {"type": "rest"})
    assert joined is not None and joined["player"]["sect"] == "qingyun"
    await refused(api, pid, token, {"type": "join_sect", "target": "qingyun"},
                  "already_in_sect")
    for _ in range(3):
        done = await ok(api, pid, token, {"type": "sect_mission", "target": "qy_labour"})
    assert done["player"]["contribution"] == 12
    swapped = await ok(api, pid, token, {"type": "exchange", "item": "juqi_dan", "count": 2})
    assert swapped["player"]["contribution"] == 0
    await refused(api, pid, token, {"type": "promote"}, "not_enough_contribution")
    await refused(api, pid, token, {"type": "sect_mission", "target": "qy_yaodan"},
                  "rank_too_low")
    left = await ok(api, pid, token, {"type": "leave_sect"})
    assert left["player"]["sect"] is None
    await refused(api, pid, token, {"type": "join_sect", "target": "qingyun"}, "sect_refuses")


async def test_learn_craft_and_promote_with_a_seeded_state(api: ApiClient,
                                                           settings: Settings) -> None:
    pid, token, _ = await api.create_player()
    seed_state(settings, pid, inventory={"danjing_rumen": 1, "bainian_lingcao": 6,
                                         "qingtong_danlu": 1},
               spirit_stones=100, location="qingyun_sect", sect="qingyun", contribution=90)
    learnt = await ok(api, pid, token, {"type": "learn", "item": "danjing_rumen"})
    assert "r_juqi" in learnt["player"]["recipes"]
    crafted = await ok(api, pid, token, {"type": "craft", "target": "r_juqi", "count": 3})
    facts = crafted["outcome"]["narration"]["facts"]
    assert facts["batches"] == 3 and 0 <= facts["successes"] <= 3
    assert crafted["player"]["inventory"].get("bainian_lingcao", 0) == 0
    assert crafted["player"]["alchemy_exp"] > 0
    promoted = await ok(api, pid, token, {"type": "promote"})
    assert promoted["player"]["sect_rank"] == 1 and promoted["player"]["contribution"] == 10


@pytest.mark.parametrize(("action", "code"), [
    ({"type": "join_sect", "target": "qingyun"}, "not_at_sect"),
    ({"type": "join_sect", "target": "shaolin"}, "unknown_sect"),
    ({"type": "join_sect"}, "missing_target"),
    ({"type": "leave_sect"}, "not_in_sect"),
    ({"type": "sect_mission", "target": "qy_labour"}, "not_in_sect"),
    ({"type": "exchange", "item": "juqi_dan"}, "not_in_sect"),
    ({"type": "promote"}, "not_in_sect"),
    ({"type": "buy", "item": "zidian_jian"}, "not_sold_here"),
    ({"type": "buy", "item": "nothing"}, "unknown_item"),
    ({"type": "buy", "item": "huichun_dan", "count": 20}, "not_enough_stones"),
    ({"type": "buy", "item": "huichun_dan", "count": 21}, "bad_count"),
    ({"type": "buy", "item": "huichun_dan", "target": "wanbao_lou"}, "shop_not_here"),
    ({"type": "sell", "item": "lang_pi"}, "no_such_item"),
    ({"type": "sell"}, "missing_item"),
    ({"type": "craft", "target": "r_juqi"}, "recipe_unknown"),
    ({"type": "craft", "target": "nope"}, "unknown_recipe"),
    ({"type": "learn", "item": "danjing_rumen"}, "no_such_item"),
    ({"type": "learn", "item": "huichun_dan"}, "not_a_recipe"),
    ({"type": "give", "target": "danshi_lin", "item": "huichun_dan"}, "npc_not_here"),
    ({"type": "give", "target": "li_laohan", "item": "huichun_dan", "count": 3}, "no_such_item"),
    ({"type": "quest", "target": "main_2"}, "npc_not_here"),
    ({"type": "quest", "target": "nope"}, "unknown_quest"),
])
async def test_refusals_are_422_with_their_code(api: ApiClient, action: dict[str, Any],
                                                code: str) -> None:
    pid, token, _ = await api.create_player()
    await refused(api, pid, token, action, code)
    me = await api.get(f"/api/players/{pid}", headers={"Authorization": f"Bearer {token}"})
    assert me.json["version"] == 0  # a refusal changes nothing


@pytest.mark.parametrize("count", [0, -1, 1000, "2", 1.5, True])
async def test_bad_count_is_a_400(api: ApiClient, count: Any) -> None:
    pid, token, _ = await api.create_player()
    r = await api.act(pid, token, {"type": "buy", "item": "huichun_dan", "count": count})
    assert r.status == 400, r.text
    assert "count" in r.json["error"]["message"]


SECT_HOME = {"location": "qingyun_sect", "sect": "qingyun"}


@pytest.mark.parametrize(("seed", "action", "code"), [
    ({**SECT_HOME, "sect_rank": 3, "realm": "jindan"}, {"type": "promote"}, "top_rank"),
    (SECT_HOME, {"type": "sect_mission", "target": "xs_hunt"}, "unknown_mission"),
    (SECT_HOME, {"type": "sect_mission", "target": "qy_herbs"}, "missing_items"),
    (SECT_HOME, {"type": "exchange", "item": "yujian_xuesha"}, "not_exchangeable"),
    (SECT_HOME, {"type": "exchange", "item": "yujian_taiyi"}, "rank_too_low"),
    (SECT_HOME, {"type": "exchange", "item": "juqi_dan"}, "not_enough_contribution"),
    ({**SECT_HOME, "sect_rank": 1, "contribution": 900}, {"type": "promote"}, "realm_too_low"),
    ({"location": "qingyang_market", "spirit_stones": 9000}, {"type": "buy", "item": "zhuji_dan"},
     "favour_too_low"),
    ({"favour": {"li_laohan": 100}}, {"type": "give", "target": "li_laohan",
                                      "item": "huichun_dan"}, "favour_max"),
    ({"inventory": {"qingtong_danlu": 1}}, {"type": "use_item", "item": "qingtong_danlu"},
     "not_usable"),
    ({"recipes": ["f_qingfeng"], "inventory": {"xuantie": 2}},
     {"type": "craft", "target": "f_qingfeng"}, "no_furnace"),
    ({"location": "luoxia_mountains", "inventory": {"lang_pi": 1}},
     {"type": "sell", "item": "lang_pi"}, "no_shop"),
    ({}, {"type": "sell", "item": "huichun_dan", "target": "nowhere"}, "unknown_shop"),
    ({"location": "qingyun_sect", "realm": "zhuji"}, {"type": "quest", "target": "main_2"},
     "quest_locked"),
    ({"quests": {"village_wolves": 2}}, {"type": "quest", "target": "village_wolves"},
     "quest_done"),
    ({"location": "tianjian_peak", "quests": {"sword_heart": 1}},
     {"type": "quest", "target": "sword_heart"}, "realm_too_low"),
    ({"inventory": {"danjing_rumen": 1}, "recipes": ["r_huichun", "r_juqi", "r_peiyuan"]},
     {"type": "learn", "item": "danjing_rumen"}, "already_known"),
])
async def test_refusals_of_a_seeded_cultivator(api: ApiClient, settings: Settings,
                                               seed: dict[str, Any], action: dict[str, Any],
                                               code: str) -> None:
    pid, token, _ = await api.create_player()
    seed_state(settings, pid, **seed)
    await refused(api, pid, token, action, code)
