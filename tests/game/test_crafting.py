"""炼丹/炼器: learning recipes, the chance from skill, furnace, place and technique, batches."""

from __future__ import annotations

from dataclasses import replace

from shared.data import World
from shared.game import Action
from shared.game.crafting import craft_chance, known_recipes
from tests.game.test_actions import refused
from tests.game.test_changes import outcome_of, player


def crafter(world: World, **changes: object):  # type: ignore[no-untyped-def]
    base = player(world, inventory={"bainian_lingcao": 20, "she_dan": 10,
                                    "qingtong_danlu": 1}, recipes=("r_huichun", "r_juqi"),
                  spirit_stones=500)
    return replace(base, **changes)


def test_learn_from_a_recipe_book(world: World) -> None:
    s = player(world, inventory={"danjing_rumen": 1})
    out = outcome_of(world, s, Action("learn", item="danjing_rumen"))
    assert set(out.state.recipes) == {"r_huichun", "r_juqi", "r_peiyuan"}
    assert out.state.count("danjing_rumen") == 0
    again = replace(out.state, inventory={"danjing_rumen": 1})
    refused(world, again, Action("learn", item="danjing_rumen"), "already_known")
    refused(world, s, Action("learn", item="huichun_dan"), "no_such_item")
    refused(world, player(world), Action("learn", item="huichun_dan"), "not_a_recipe")
    refused(world, s, Action("learn"), "missing_item")
    refused(world, s, Action("learn", item="nope"), "unknown_item")
    assert [r.id for r in known_recipes(world, out.state)] == list(out.state.recipes)


def test_chance_rises_with_skill_furnace_place_and_technique(world: World) -> None:
    recipe = world.recipes["r_huichun"]
    base = crafter(world)
    c = craft_chance
    assert c(world, base, recipe) == recipe.base_chance + 0.05  # the bronze furnace
    assert c(world, replace(base, alchemy_exp=20), recipe) > c(world, base, recipe)
    better = replace(base, inventory={**base.inventory, "ziyang_danlu": 1})
    assert c(world, better, recipe) > c(world, base, recipe)
    assert c(world, replace(base, location="lingquan_valley"), recipe) > c(world, base, recipe)
    assert c(world, replace(base, techniques=("lieyang_xinfa",)), recipe) > c(world, base, recipe)
    capped = replace(base, alchemy_exp=10**6, location="lingquan_valley",
                     inventory={"ziyang_danlu": 1})
    assert c(world, capped, recipe) == world.econ.crafting.max_chance


def test_craft_makes_items_and_spends_inputs(world: World) -> None:
    s = crafter(world)
    out = outcome_of(world, s, Action("craft", target="r_huichun", count=10), seed=5)
    made = out.narration.facts["successes"]
    assert 0 < made < 10  # 6 of 10 at 75% with this seed
    assert out.state.count("huichun_dan") == s.count("huichun_dan") + 2 * made
    assert out.state.count("bainian_lingcao") == 10 and out.state.count("she_dan") == 0
    assert out.state.spirit_stones == 500 - 10 * world.recipes["r_huichun"].spirit_stones
    rules = world.econ.crafting
    assert out.state.alchemy_exp == made * rules.exp_success + (10 - made) * rules.exp_failure
    assert out.state.day == s.day + 10 * world.recipes["r_huichun"].days


def test_same_seed_same_craft(world: World) -> None:
    s = crafter(world)
    a = outcome_of(world, s, Action("craft", target="r_juqi", count=5), seed=11)
    b = outcome_of(world, s, Action("craft", target="r_juqi", count=5), seed=11)
    assert a.state == b.state


def test_forging_needs_its_own_furnace(world: World) -> None:
    s = player(world, inventory={"xuantie": 2, "qingtong_danlu": 1}, recipes=("f_qingfeng",))
    refused(world, s, Action("craft", target="f_qingfeng"), "no_furnace")
    ok = replace(s, inventory={"xuantie": 2, "xuantie_qilu": 1})
    outs = [outcome_of(world, ok, Action("craft", target="f_qingfeng"), seed=n) for n in range(8)]
    assert any(o.success and o.state.count("qingfeng_jian") == 1 for o in outs)
    assert any(not o.success and o.state.count("xuantie") == 0 for o in outs)
    assert all(o.state.forging_exp > 0 for o in outs)


def test_craft_refusals(world: World) -> None:
    s = crafter(world)
    refused(world, s, Action("craft"), "missing_target")
    refused(world, s, Action("craft", target="nope"), "unknown_recipe")
    refused(world, s, Action("craft", target="r_zhuji"), "recipe_unknown")
    refused(world, replace(s, recipes=("r_ningyuan",)), Action("craft", target="r_ningyuan"),
            "realm_too_low")
    refused(world, s, Action("craft", target="r_huichun", count=11), "missing_items")
    refused(world, replace(s, spirit_stones=0), Action("craft", target="r_huichun"),
            "not_enough_stones")
    refused(world, s, Action("use_item", item="qingtong_danlu"), "not_usable")
