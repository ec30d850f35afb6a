"""world_options lists only actions the rules accept; a bot living on them reaches every system."""

from __future__ import annotations

import random
from dataclasses import replace

from shared.data import World
from shared.errors import ActionRefused
from shared.game import Action, PlayerState, apply_action
from shared.game.favour import add_favour
from shared.game.world_options import world_options
from tests.game.test_changes import player


def test_options_are_accepted_on_a_long_random_walk(world: World) -> None:
    rng = random.Random(5)
    state = player(world, spirit_stones=300, attack=60, defense=30, max_hp=400, hp=400)
    seen: set[str] = set()
    for turn in range(1500):
        if state.ended:  # old age or a stronger foe: a new cultivator walks on
            state = player(world, spirit_stones=300, attack=60, defense=30, max_hp=400, hp=400)
        if state.pending_choice is not None:  # a choice event: answer it first
            option = next(c for c in world.events[state.pending_choice].choices
                          if c.cost <= state.spirit_stones)
            state = apply_action(world, state, Action("choose", target=option.id), turn).state
            continue
        if not state.alive:
            state = apply_action(world, state, Action("rest"), turn).state
            continue
        opts = world_options(world, state)
        for opt in opts:
            try:
                apply_action(world, state, opt, turn)
            except ActionRefused as exc:  # pragma: no cover - the assertion explains
                raise AssertionError(f"{opt} offered but refused: {exc.code}") from exc
        if opts and rng.random() < 0.6:
            action = rng.choice(opts)
        else:
            exits = sorted(world.neighbors(state.location))
            here = world.locations[state.location]
            action = rng.choice([Action("travel", target=rng.choice(exits)), Action("explore"),
                                 *([Action("fight")] if here.monsters else [])])
        try:
            state = apply_action(world, state, action, turn).state
        except ActionRefused:
            continue  # a travel to a place above the realm, say
        seen.add(action.type)
    assert {"buy", "sell", "quest", "join_sect", "sect_mission"} <= seen, seen


def test_options_cover_craft_learn_exchange_promote_give(world: World) -> None:
    s: PlayerState = player(world, location="qingyun_sect", sect="qingyun", contribution=1000,
                            inventory={"danjing_rumen": 1, "bainian_lingcao": 4,
                                       "qingtong_danlu": 1, "yaodan": 3},
                            recipes=("r_juqi",), spirit_stones=100)
    types = {a.type for a in world_options(world, s)}
    assert {"learn", "craft", "exchange", "promote", "sect_mission", "give"} <= types, types
    assert world_options(world, replace(s, hp=0)) == []
    maxed = add_favour(world, s, "zhishi_zhou", 100)
    maxed = add_favour(world, maxed, "zhanglao_mo", 100)
    assert "give" not in {a.type for a in world_options(world, maxed)}


def test_new_state_fields_round_trip(world: World) -> None:
    s = player(world, sect="xuesha", sect_rank=2, contribution=7, favour={"li_laohan": -3},
               quests={"main_1": 1}, recipes=("r_juqi",), alchemy_exp=4, forging_exp=2,
               claimed=("favour:li_laohan:0",))
    again = PlayerState.from_dict(s.to_dict())
    assert again == s and hash(again) == hash(s)
    old_save = {k: v for k, v in s.to_dict().items()
                if k not in ("sect", "favour", "quests", "recipes", "claimed")}
    legacy = PlayerState.from_dict(old_save)
    assert legacy.sect is None and legacy.favour == {} and legacy.quests == {}
