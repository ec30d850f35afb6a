"""突破: the chance respects root, pill, place and streak; success and failure move the numbers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from shared.data import World
from shared.errors import ActionRefused
from shared.game import Action, PlayerState, apply_action, breakthrough_chance
from shared.game.progress import qi_required
from tests.game.test_changes import outcome_of, player


def ready(world: World, **changes: Any) -> PlayerState:
    """A player with exactly enough qi to attempt the next breakthrough."""
    state = player(world, **changes)
    return replace(state, qi=qi_required(world, state))


def last_lianqi(world: World, **changes: Any) -> PlayerState:
    """At 练气圆满 (the last stage), about to attempt 筑基, its gate met by preparation."""
    stage = len(world.realm("lianqi").stages) - 1
    gate = world.realm("zhuji").gate
    prep = gate.preparation if gate else 0
    return ready(world, stage=stage, **{"preparation": prep, **changes})


def total(world: World, state: PlayerState, pill: str | None = None) -> float:
    return breakthrough_chance(world, state, world.items[pill] if pill else None).total


def test_better_root_better_chance(world: World) -> None:
    poor = last_lianqi(world, root="wei_linggen")
    rich = replace(poor, root="tian_shui")
    assert total(world, rich) > total(world, poor)
    roots = world.roots
    gap = roots["tian_shui"].breakthrough_bonus - roots["wei_linggen"].breakthrough_bonus
    assert total(world, rich) - total(world, poor) == pytest.approx(gap)


def test_place_matters(world: World) -> None:
    village = last_lianqi(world, location="qingyun_village")
    valley = replace(village, location="lingquan_valley")
    bonus = world.locations["lingquan_valley"].breakthrough_bonus
    assert bonus > 0
    assert total(world, valley) == pytest.approx(total(world, village) + bonus)


def test_realm_pill_helps_only_its_own_breakthrough(world: World) -> None:
    major = last_lianqi(world)
    minor = ready(world)
    pill = world.items["zhuji_dan"]
    assert total(world, major, "zhuji_dan") == pytest.approx(
        total(world, major) + pill.effects.breakthrough_bonus)
    with pytest.raises(ActionRefused) as info:
        apply_action(world, minor.with_item("zhuji_dan", 1),
                     Action("breakthrough", item="zhuji_dan"), 1)
    assert info.value.code == "pill_not_applicable"


def test_pill_in_inventory_is_taken_automatically_and_consumed(world: World) -> None:
    state = last_lianqi(world).with_item("zhuji_dan", 2)
    out = outcome_of(world, state, Action("breakthrough"))
    assert out.events[0]["pill"] == "zhuji_dan"
    assert out.events[0]["parts"]["pill"] == world.items["zhuji_dan"].effects.breakthrough_bonus
    assert out.state.count("zhuji_dan") == 1
    assert out.narration.facts["pill"] == world.items["zhuji_dan"].name


def test_generic_pill_only_when_asked_and_buff_is_spent(world: World) -> None:
    state = ready(world).with_item("pozhang_dan", 1)
    plain = outcome_of(world, state, Action("breakthrough"))
    assert plain.events[0]["pill"] is None and plain.state.count("pozhang_dan") == 1
    asked = outcome_of(world, state, Action("breakthrough", item="pozhang_dan"))
    assert asked.events[0]["pill"] == "pozhang_dan" and asked.state.count("pozhang_dan") == 0
    buffed = replace(state, breakthrough_buff=0.1)
    out = outcome_of(world, buffed, Action("breakthrough"))
    assert out.events[0]["parts"]["buff"] == 0.1 and out.state.breakthrough_buff == 0.0


def test_failure_streak_raises_the_next_chance_and_clamps(world: World) -> None:
    state = last_lianqi(world)
    assert total(world, replace(state, failed_breakthroughs=2)) == pytest.approx(
        total(world, state) + 2 * world.rules.failure_streak_bonus)
    assert total(world, replace(state, failed_breakthroughs=1000)) == (
        world.rules.max_breakthrough_chance)


def _first_seed(world: World, state: PlayerState, success: bool) -> int:
    for seed in range(500):
        if apply_action(world, state, Action("breakthrough"), seed).success is success:
            return seed
    raise AssertionError("no such seed")


def test_minor_success_moves_a_stage_and_spends_qi(world: World) -> None:
    state = replace(ready(world), qi=qi_required(world, ready(world)) + 3)
    out = outcome_of(world, state, Action("breakthrough"), _first_seed(world, state, True))
    gains = world.realm("lianqi").stage_gains
    assert (out.state.realm, out.state.stage) == ("lianqi", 1)
    assert out.state.qi == 3
    assert out.state.max_hp == state.max_hp + gains.max_hp
    assert out.state.attack == state.attack + gains.attack
    assert out.narration.kind == "breakthrough_success"


def test_major_success_enters_the_next_realm_fully_healed(world: World) -> None:
    state = last_lianqi(world, hp=5)
    out = outcome_of(world, state, Action("breakthrough"), _first_seed(world, state, True))
    gains = world.realm("zhuji").entry_gains
    assert (out.state.realm, out.state.stage) == ("zhuji", 0)
    assert out.state.max_hp == state.max_hp + gains.max_hp == out.state.hp
    assert out.narration.facts["major"] is True


def test_failure_costs_qi_and_hp_but_never_kills(world: World) -> None:
    state = last_lianqi(world, hp=2)
    out = outcome_of(world, state, Action("breakthrough"), _first_seed(world, state, False))
    assert not out.success and out.narration.kind == "breakthrough_failure"
    facts = out.narration.facts
    assert out.state.qi == state.qi - facts["qi_lost"] and facts["qi_lost"] > 0
    assert out.state.hp == state.hp - facts["hp_lost"] >= 1
    assert out.state.failed_breakthroughs == 1
    assert out.state.realm == state.realm and out.state.stage == state.stage


def test_success_rate_matches_the_chance(world: World) -> None:
    state = last_lianqi(world, root="wei_linggen")
    p = total(world, state)
    wins = sum(apply_action(world, state, Action("breakthrough"), s).success for s in range(2000))
    assert abs(wins / 2000 - p) < 0.04


@pytest.mark.parametrize(
    ("changes", "item", "code"),
    [({}, None, "not_enough_qi"),
     ({"realm": "dujie", "stage": 3}, None, "peak_realm"),
     ({"qi": 10_000}, "nothing", "unknown_item"),
     ({"qi": 10_000}, "pozhang_dan", "no_such_item")],
)
def test_breakthrough_refusals(
    world: World, changes: dict[str, Any], item: str | None, code: str
) -> None:
    with pytest.raises(ActionRefused) as info:
        apply_action(world, player(world, **changes), Action("breakthrough", item=item), 1)
    assert info.value.code == code
