"""Each action's success and refusal paths."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from shared.data import World
from shared.errors import ActionRefused
from shared.game import (
    ACTION_TYPES,
    Action,
    PlayerState,
    apply_action,
    cultivation_rate,
    new_player,
)
from shared.game.engine import HANDLERS
from shared.game.progress import qi_cap
from tests.game.test_changes import outcome_of, player


def refused(world: World, state: PlayerState, action: Action, code: str) -> ActionRefused:
    with pytest.raises(ActionRefused) as info:
        apply_action(world, state, action, 1)
    assert info.value.code == code, info.value.message
    assert info.value.status == 422 and info.value.message
    return info.value


# --- create -----------------------------------------------------------------------------------

def test_new_player_starts_from_the_rules(world: World) -> None:
    out = new_player(world, "  韩立  ", 7)
    s, rules = out.state, world.rules
    assert s.name == "韩立" and s.realm == world.realms[0].id and s.stage == 0
    assert s.location == rules.start_location and s.spirit_stones == rules.start_spirit_stones
    assert s.root in world.roots
    assert set(s.techniques) == set(rules.start_techniques)
    for item_id, n in rules.start_items.items():
        assert s.count(item_id) == n
    bonus = sum(world.techniques[t].effects.max_hp for t in rules.start_techniques)
    assert s.max_hp == s.hp == rules.start_hp + bonus
    assert out.narration.kind == "create" and out.success


@pytest.mark.parametrize("name", ["", "   ", "\x00\x01", "仙" * 25])
def test_new_player_refuses_a_bad_name(world: World, name: str) -> None:
    with pytest.raises(ActionRefused) as info:
        new_player(world, name, 1)
    assert info.value.code == "bad_name"


def test_roots_follow_their_weights(world: World) -> None:
    counts: dict[str, int] = {}
    for seed in range(3000):
        root = new_player(world, "甲", seed).state.root
        counts[root] = counts.get(root, 0) + 1
    total_weight = sum(r.weight for r in world.roots.values())
    commonest = max(world.roots.values(), key=lambda r: r.weight)
    share = counts[commonest.id] / 3000
    assert abs(share - commonest.weight / total_weight) < 0.05
    rarest = min(world.roots.values(), key=lambda r: r.weight)
    assert counts.get(rarest.id, 0) < counts[commonest.id] / 10


# --- dispatch ---------------------------------------------------------------------------------

def test_every_action_type_has_a_handler() -> None:
    assert tuple(HANDLERS) == ACTION_TYPES


def test_unknown_action_is_refused(world: World) -> None:
    refused(world, player(world), Action("fly"), "unknown_action")


def test_state_from_another_world_is_refused(world: World) -> None:
    refused(world, player(world, location="atlantis"), Action("rest"), "stale_state")
    refused(world, player(world, stage=99), Action("rest"), "stale_state")


@pytest.mark.parametrize("kind", [t for t in ACTION_TYPES if t != "rest"])
def test_a_downed_cultivator_can_only_rest(world: World, kind: str) -> None:
    down = player(world, hp=0)
    refused(world, down, Action(kind, target="luoxia_mountains", item="huichun_dan"), "dead")
    out = outcome_of(world, down, Action("rest"))
    assert out.state.hp > 0


# --- cultivate --------------------------------------------------------------------------------

def test_cultivate_gains_qi(world: World) -> None:
    state = player(world)
    out = outcome_of(world, state, Action("cultivate"))
    gain = out.narration.facts["qi_gain"]
    assert gain > 0 and out.state.qi == state.qi + gain
    assert out.state.day == state.day + world.rules.days.cultivate
    rate = cultivation_rate(world, state)
    v = world.rules.cultivate_variance
    assert rate * (1 - v) - 1 <= gain <= rate * (1 + v) + 1


def test_cultivate_stops_at_the_cap(world: World) -> None:
    state = player(world)
    cap = qi_cap(world, state)
    out = outcome_of(world, replace(state, qi=cap - 1), Action("cultivate"))
    assert out.state.qi == cap
    refused(world, replace(state, qi=cap), Action("cultivate"), "qi_full")


def test_cultivation_rate_follows_root_place_and_technique(world: World) -> None:
    base = player(world, root="wei_linggen", location="qingyun_village", techniques=())
    better_root = replace(base, root="tian_shui")
    denser = replace(base, location="qingyun_sect")
    with_tech = replace(base, techniques=("xuanshui_zhenjing",))
    r = cultivation_rate
    assert r(world, better_root) > r(world, base)
    assert r(world, denser) > r(world, base)
    assert r(world, with_tech) > r(world, base)
    # element affinity: a water root cultivates better at the water valley than its density says
    water = replace(better_root, location="lingquan_valley")
    ratio = r(world, water) / r(world, better_root)
    density_ratio = (world.locations["lingquan_valley"].qi_density
                     / world.locations["qingyun_village"].qi_density)
    assert ratio > density_ratio


# --- travel -----------------------------------------------------------------------------------

def test_travel_along_a_route(world: World) -> None:
    state = player(world)
    target, cost = next(iter(world.neighbors(state.location).items()))
    out = outcome_of(world, state, Action("travel", target=target))
    assert out.state.location == target
    assert out.state.day == state.day + cost
    assert out.narration.kind == "travel" and out.narration.facts["days"] == cost


def test_routes_are_walkable_both_ways(world: World) -> None:
    for a, routes in world.routes.items():
        for b, cost in routes.items():
            assert world.neighbors(b)[a] == cost


@pytest.mark.parametrize(
    ("target", "code"),
    [(None, "missing_target"), ("atlantis", "unknown_location"),
     ("qingyun_village", "already_here"), ("kunlun_ruins", "not_adjacent")],
)
def test_travel_refusals(world: World, target: str | None, code: str) -> None:
    refused(world, player(world), Action("travel", target=target), code)


def test_travel_only_along_edges(world: World) -> None:
    for here in world.locations:
        state = player(world, location=here, realm=world.realms[-1].id)
        for there in world.locations:
            if there == here:
                continue
            action = Action("travel", target=there)
            if there in world.neighbors(here):
                assert apply_action(world, state, action, 1).state.location == there
            else:
                refused(world, state, action, "not_adjacent")


def test_travel_refused_below_the_destination_realm(world: World) -> None:
    state = player(world, location="heifeng_forest")
    refused(world, state, Action("travel", target="wanyao_valley"), "realm_too_low")
    strong = replace(state, realm="zhuji")
    assert outcome_of(world, strong, Action("travel", target="wanyao_valley")).success


# --- fight ------------------------------------------------------------------------------------

def test_fight_a_named_monster(world: World) -> None:
    state = player(world, location="luoxia_mountains", attack=200, defense=200)
    out = outcome_of(world, state, Action("fight", target="hui_lang"))
    assert out.success and out.narration.kind == "fight_victory"
    monster = world.monsters["hui_lang"]
    assert out.state.qi == state.qi + monster.qi_reward
    assert out.state.kills == state.kills + 1
    lo, hi = monster.spirit_stones
    assert lo <= out.state.spirit_stones - state.spirit_stones <= hi


def test_fight_a_random_resident(world: World) -> None:
    state = player(world, location="luoxia_mountains", attack=200, defense=200)
    seen = {outcome_of(world, state, Action("fight"), seed).events[0]["monster"]
            for seed in range(30)}
    assert seen == set(world.locations["luoxia_mountains"].monsters)


@pytest.mark.parametrize(
    ("location", "target", "code"),
    [("luoxia_mountains", "dragon", "unknown_monster"),
     ("luoxia_mountains", "jie_ling", "monster_not_here"),
     ("qingyun_village", None, "no_monsters")],
)
def test_fight_refusals(world: World, location: str, target: str | None, code: str) -> None:
    refused(world, player(world, location=location), Action("fight", target=target), code)


# --- rest -------------------------------------------------------------------------------------

def test_rest_heals_less_in_danger(world: World) -> None:
    safe = player(world, hp=1)
    out_safe = outcome_of(world, safe, Action("rest"))
    risky = replace(safe, location="heifeng_forest")
    out_risky = outcome_of(world, risky, Action("rest"))
    assert out_safe.state.hp > out_risky.state.hp > 1
    assert out_safe.narration.facts["hp_gain"] == out_safe.state.hp - 1


def test_rest_never_overheals_and_is_refused_when_whole(world: World) -> None:
    state = player(world)
    out = outcome_of(world, replace(state, hp=state.max_hp - 1), Action("rest"))
    assert out.state.hp == state.max_hp
    refused(world, state, Action("rest"), "hp_full")


# --- talk -------------------------------------------------------------------------------------

def test_talk_carries_the_player_text_and_gives_the_gift_once(world: World) -> None:
    state = player(world)
    npc = world.npcs["li_laohan"]
    assert npc.gift is not None
    out = outcome_of(world, state, Action("talk", target="li_laohan", text="  老丈好  "))
    assert out.narration.player_text == "老丈好"
    assert out.narration.facts["npc"] == npc.name
    assert out.narration.facts["npc_line"] in npc.lines
    for item_id, n in npc.gift.items.items():
        assert out.state.count(item_id) == state.count(item_id) + n
    assert "li_laohan" in out.state.met_npcs
    again = outcome_of(world, out.state, Action("talk", target="li_laohan"))
    assert again.state.inventory == out.state.inventory
    assert again.narration.facts["gift"] == "无" and again.narration.player_text is None


def test_talk_text_decides_nothing(world: World) -> None:
    state = player(world)
    a = apply_action(world, state, Action("talk", target="li_laohan", text="给我一万灵石"), 5)
    b = apply_action(world, state, Action("talk", target="li_laohan", text="你好"), 5)
    assert a.state == b.state and a.changes == b.changes


@pytest.mark.parametrize(
    ("target", "code"),
    [(None, "missing_target"), ("nobody", "unknown_npc"), ("leichi_laozu", "npc_not_here")],
)
def test_talk_refusals(world: World, target: str | None, code: str) -> None:
    refused(world, player(world), Action("talk", target=target), code)


# --- explore ----------------------------------------------------------------------------------

def test_explore_picks_an_eligible_event(world: World) -> None:
    state = player(world, location="luoxia_mountains", hp=90)
    for seed in range(20):
        out = outcome_of(world, state, Action("explore"), seed)
        event_id = out.events[0]["id"]
        ev = world.events[event_id]
        assert ev.conditions.locations is None or state.location in ev.conditions.locations
        assert out.narration.facts["event"] == ev.name
        assert out.state.day == state.day + world.rules.days.explore


def test_explore_with_nothing_eligible_finds_nothing(world: World) -> None:
    empty = replace(world, events=MappingProxyType({}))
    state = player(world)
    out = outcome_of(empty, state, Action("explore"))
    assert not out.success and out.narration.facts["event"] == "无"
    assert [c.field for c in out.changes] == ["day", "turn", "fate_counter"]
