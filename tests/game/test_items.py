"""use_item: pills, artifacts, manuals, and every refusal."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.data import World
from shared.errors import ActionRefused
from shared.game import Action, PlayerState, apply_action
from shared.game.progress import qi_cap
from tests.game.test_changes import outcome_of, player


def use(item: str | None) -> Action:
    return Action("use_item", item=item)


def code_of(world: World, state: PlayerState, action: Action) -> str:
    with pytest.raises(ActionRefused) as info:
        apply_action(world, state, action, 1)
    return info.value.code


def test_healing_pill_heals_up_to_max_and_is_consumed(world: World) -> None:
    state = player(world, hp=10, inventory={"huichun_dan": 2})
    out = outcome_of(world, state, use("huichun_dan"))
    assert out.state.hp == 10 + world.items["huichun_dan"].effects.hp
    assert out.state.count("huichun_dan") == 1
    near_full = replace(state, hp=state.max_hp - 5)
    assert outcome_of(world, near_full, use("huichun_dan")).state.hp == state.max_hp


def test_qi_pill_respects_the_cap(world: World) -> None:
    state = player(world, inventory={"huaying_dan": 1})
    assert world.items["huaying_dan"].effects.qi > qi_cap(world, state)
    out = outcome_of(world, state, use("huaying_dan"))
    assert out.state.qi == qi_cap(world, state)


def test_permanent_pills_raise_stats(world: World) -> None:
    state = player(world, inventory={"peiyuan_dan": 1, "longhu_dan": 1})
    out = outcome_of(world, state, use("peiyuan_dan"))
    gain = world.items["peiyuan_dan"].effects.max_hp
    assert out.state.max_hp == state.max_hp + gain and out.state.hp == state.hp + gain
    out2 = outcome_of(world, out.state, use("longhu_dan"))
    eff = world.items["longhu_dan"].effects
    assert out2.state.attack == state.attack + eff.attack
    assert out2.state.defense == state.defense + eff.defense


def test_generic_breakthrough_pill_becomes_a_buff(world: World) -> None:
    state = player(world, inventory={"pozhang_dan": 2})
    out = outcome_of(world, state, use("pozhang_dan"))
    assert out.state.breakthrough_buff == world.items["pozhang_dan"].effects.breakthrough_bonus
    assert "突破" in out.narration.facts["effect"]
    assert code_of(world, out.state, use("pozhang_dan")) == "buff_active"


def test_artifacts_are_equipped_and_swapped(world: World) -> None:
    state = player(world, inventory={"qingfeng_jian": 1, "jinsi_ruanjia": 1})
    sword = world.items["qingfeng_jian"].effects
    armour = world.items["jinsi_ruanjia"].effects
    out = outcome_of(world, state, use("qingfeng_jian"))
    assert out.state.equipped == "qingfeng_jian" and out.state.count("qingfeng_jian") == 0
    assert out.state.attack == state.attack + sword.attack
    assert code_of(world, out.state.with_item("qingfeng_jian", 1), use("qingfeng_jian")) == (
        "already_equipped")
    out2 = outcome_of(world, out.state, use("jinsi_ruanjia"))
    assert out2.state.equipped == "jinsi_ruanjia"
    assert out2.state.count("qingfeng_jian") == 1  # back in the bag
    assert out2.state.attack == state.attack
    assert out2.state.defense == state.defense + armour.defense


def test_manual_teaches_its_technique(world: World) -> None:
    state = player(world, inventory={"yujian_jingang": 2})
    out = outcome_of(world, state, use("yujian_jingang"))
    tech = world.techniques["jingang_jue"]
    assert "jingang_jue" in out.state.techniques
    assert out.state.defense == state.defense + tech.effects.defense
    assert out.state.max_hp == state.max_hp + tech.effects.max_hp
    assert code_of(world, out.state, use("yujian_jingang")) == "already_known"


@pytest.mark.parametrize(
    ("inventory", "item", "code"),
    [({}, None, "missing_item"),
     ({}, "philosopher_stone", "unknown_item"),
     ({}, "huichun_dan", "no_such_item"),
     ({"lang_pi": 1}, "lang_pi", "not_usable"),
     ({"zhuji_dan": 1}, "zhuji_dan", "use_at_breakthrough"),
     ({"yujian_taiyi": 1}, "yujian_taiyi", "realm_too_low"),
     ({"huichun_dan": 1}, "huichun_dan", "no_effect")],  # already at full hp
)
def test_use_item_refusals(world: World, inventory: dict[str, int], item: str | None,
                           code: str) -> None:
    assert code_of(world, player(world, inventory=inventory), use(item)) == code
