"""PlayerState: immutable, JSON round trip, old saves, and the read-only inventory."""

from __future__ import annotations

import copy
import json
import pickle
from dataclasses import FrozenInstanceError, replace

import pytest

from shared.data import World
from shared.game import Action, NarrationRequest, PlayerState, apply_action, new_player
from shared.game.frozen import FrozenDict
from shared.game.state import diff_fields
from tests.game.test_changes import player


def test_round_trip_through_json(world: World) -> None:
    state = player(world, inventory={"huichun_dan": 3, "yaodan": 1}, techniques=("changchun_gong",),
                   equipped="qingfeng_jian", breakthrough_buff=0.1, met_npcs=("li_laohan",),
                   day=40, turn=7, kills=2)
    text = json.dumps(state.to_dict(), ensure_ascii=False)
    back = PlayerState.from_dict(json.loads(text))
    assert back == state
    assert back.to_dict() == state.to_dict()
    assert isinstance(back.inventory, FrozenDict)
    assert isinstance(back.techniques, tuple)


def test_to_dict_is_plain_json(world: World) -> None:
    data = player(world).to_dict()
    assert type(data["inventory"]) is dict
    assert type(data["techniques"]) is list
    assert json.loads(json.dumps(data)) == data
    assert "turn" in data and data["turn"] == 0


def test_from_dict_accepts_an_older_save_without_new_fields(world: World) -> None:
    old = {"name": "旧档", "root": "wei_linggen", "realm": "lianqi", "location": "qingyun_village",
           "hp": 80, "max_hp": 100, "attack": 12, "defense": 5, "qi": 10,
           "inventory": {"huichun_dan": 1}}
    state = PlayerState.from_dict(old)
    assert state.turn == 0 and state.day == 0 and state.kills == 0
    assert state.met_npcs == () and state.equipped is None and state.breakthrough_buff == 0.0
    # and it plays
    out = apply_action(world, state, Action("rest"), 1)
    assert out.state.hp > 80 and out.state.turn == 1


def test_from_dict_ignores_unknown_keys_and_rejects_missing_required(world: World) -> None:
    data = {**player(world).to_dict(), "id": "abc", "future_field": 1}
    assert PlayerState.from_dict(data) == player(world)
    broken = player(world).to_dict()
    del broken["realm"]
    with pytest.raises(ValueError, match="realm"):
        PlayerState.from_dict(broken)


def test_state_and_inventory_are_immutable(world: World) -> None:
    state = player(world)
    with pytest.raises(FrozenInstanceError):
        state.qi = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        state.inventory["huichun_dan"] = 99  # type: ignore[index]
    with pytest.raises(TypeError):
        state.inventory.pop("huichun_dan")  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        state.inventory.update({"x": 1})  # type: ignore[attr-defined]


def test_state_survives_pickle_and_deepcopy_and_hashes(world: World) -> None:
    state = player(world)
    assert pickle.loads(pickle.dumps(state)) == state
    assert copy.deepcopy(state) == state
    assert copy.copy(state.inventory) is state.inventory
    assert hash(state) == hash(copy.deepcopy(state))
    assert "FrozenDict" in repr(state.inventory)


def test_with_item_adds_removes_and_never_goes_negative(world: World) -> None:
    state = player(world, inventory={"huichun_dan": 1})
    assert state.with_item("yaodan", 2).count("yaodan") == 2
    assert "huichun_dan" not in state.with_item("huichun_dan", -1).inventory
    assert state.with_item("huichun_dan", -5).count("huichun_dan") == 0
    assert state.count("huichun_dan") == 1  # the original is untouched


def test_diff_fields_lists_items_one_by_one(world: World) -> None:
    a = player(world, inventory={"huichun_dan": 2})
    b = replace(a.with_item("huichun_dan", -2).with_item("yaodan", 1), qi=5,
                techniques=(*a.techniques, "jingang_jue"))
    diff = {f: (x, y) for f, x, y in diff_fields(a, b)}
    assert diff["inventory.huichun_dan"] == (2, 0)
    assert diff["inventory.yaodan"] == (0, 1)
    assert diff["qi"] == (0, 5)
    assert diff["techniques"] == (list(a.techniques), [*a.techniques, "jingang_jue"])
    assert diff_fields(a, a) == []


def test_narration_request_round_trip() -> None:
    req = NarrationRequest(kind="talk", facts={"npc": "李老汉", "turn": 3}, player_text="你好")
    assert NarrationRequest.from_dict(json.loads(json.dumps(req.to_dict()))) == req
    assert NarrationRequest.from_dict({"kind": "rest"}).facts == {}


def test_action_round_trip() -> None:
    act = Action("talk", target="li_laohan", text="老丈好")
    assert Action.from_dict(act.to_dict()) == act
    assert Action("rest").to_dict() == {"type": "rest"}


def test_outcome_to_dict_is_json_without_state(world: World) -> None:
    out = new_player(world, "乙", 9)
    data = json.loads(json.dumps(out.to_dict(), ensure_ascii=False))
    assert set(data) == {"action", "success", "changes", "events", "summary", "narration"}
    assert data["action"] == "create" and data["narration"]["kind"] == "create"
