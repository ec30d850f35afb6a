"""好感: gifts move favour, favour gifts come once, talk reports the level."""

from __future__ import annotations

from shared.data import World
from shared.game import Action
from shared.game.favour import add_favour, favour_level, favour_of, gift_favour
from tests.game.test_actions import refused
from tests.game.test_changes import outcome_of, player


def test_gift_raises_favour_more_for_liked_items(world: World) -> None:
    npc = world.npcs["danshi_lin"]
    rules = world.econ.favour
    liked = gift_favour(world, npc, "bainian_lingcao", 4)
    plain = gift_favour(world, npc, "xuantie", 3)  # 60 value each way
    assert liked > plain >= 1
    assert gift_favour(world, npc, "long_lin", 20) == rules.max_per_gift
    s = player(world, location="lingquan_valley", inventory={"bainian_lingcao": 4})
    out = outcome_of(world, s, Action("give", target="danshi_lin", item="bainian_lingcao",
                                      count=4))
    assert favour_of(out.state, "danshi_lin") == liked
    assert out.state.count("bainian_lingcao") == 0


def test_favour_gift_is_given_once_at_its_threshold(world: World) -> None:
    s = add_favour(world, player(world, location="lingquan_valley",
                                 inventory={"bainian_lingcao": 10}), "danshi_lin", 29)
    out = outcome_of(world, s, Action("give", target="danshi_lin", item="bainian_lingcao"))
    assert out.state.count("danshi_zhuji") == 0 and out.state.count("danfang_zhuji") == 1
    assert "favour:danshi_lin:0" in out.state.claimed
    again = outcome_of(world, out.state, Action("give", target="danshi_lin",
                                                item="bainian_lingcao"))
    assert again.state.count("danfang_zhuji") == 1


def test_favour_is_bounded_and_levels_are_named(world: World) -> None:
    s = player(world)
    assert favour_of(add_favour(world, s, "li_laohan", 500), "li_laohan") == world.econ.favour.max
    assert favour_of(add_favour(world, s, "li_laohan", -500), "li_laohan") == world.econ.favour.min
    assert favour_level(world, 0).name == "陌生"
    assert favour_level(world, 95).name == "莫逆"
    assert favour_level(world, -100).name == "敌视"


def test_give_refusals(world: World) -> None:
    s = player(world)
    refused(world, s, Action("give", item="huichun_dan"), "missing_target")
    refused(world, s, Action("give", target="nobody", item="huichun_dan"), "unknown_npc")
    refused(world, s, Action("give", target="danshi_lin", item="huichun_dan"), "npc_not_here")
    refused(world, s, Action("give", target="li_laohan"), "missing_item")
    refused(world, s, Action("give", target="li_laohan", item="ghost"), "unknown_item")
    refused(world, s, Action("give", target="li_laohan", item="huichun_dan", count=9),
            "no_such_item")
    maxed = add_favour(world, s, "li_laohan", 100)
    refused(world, maxed, Action("give", target="li_laohan", item="huichun_dan"), "favour_max")


def test_talk_reports_the_favour_level(world: World) -> None:
    s = add_favour(world, player(world), "li_laohan", 35)
    out = outcome_of(world, s, Action("talk", target="li_laohan"))
    assert out.narration.facts["favour"] == 35
    assert out.narration.facts["favour_level"] == "友善"


def test_choices_move_favour(world: World) -> None:
    from dataclasses import replace

    s = replace(player(world, location="lingquan_valley"), pending_choice="wounded_fox")
    helped = outcome_of(world, s, Action("choose", target="help"))
    assert favour_of(helped.state, "danshi_lin") == 8
    took = outcome_of(world, s, Action("choose", target="take"))
    assert favour_of(took.state, "danshi_lin") == -10
    left = outcome_of(world, s, Action("choose", target="leave"))
    assert favour_of(left.state, "danshi_lin") == 0
