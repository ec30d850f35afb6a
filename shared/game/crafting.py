"""炼丹 and 炼器: recipes learnt from 丹方/图谱 (``learn``) and crafted with a furnace (``craft``).

A craft's chance is the recipe's base chance plus skill (experience, capped), the best furnace
carried, the place and the player's techniques, clamped to the world's bounds.
"""

from __future__ import annotations

import random
from dataclasses import replace

from shared.data import World
from shared.data.world_models import Recipe
from shared.errors import ActionRefused
from shared.game.action import Action
from shared.game.finish import describe_gains, finish
from shared.game.items import carried_item
from shared.game.outcome import Outcome
from shared.game.state import PlayerState
from shared.game.steps import (
    count_of,
    give_items,
    item_list,
    require_items,
    require_realm,
    require_stones,
    take_items,
)

CRAFT_NAMES = {"alchemy": "炼丹", "forging": "炼器"}


def furnace_bonus(world: World, state: PlayerState, kind: str) -> float:
    """The best bonus among the furnaces (tools) the player carries for this craft."""
    bonuses: list[float] = [
        float(getattr(world.items[i].effects, f"{kind}_bonus")) for i in state.inventory
        if i in world.items and world.items[i].kind == "tool"]
    return max(bonuses, default=0.0)


def has_furnace(world: World, state: PlayerState, kind: str) -> bool:
    """True when the player carries a furnace for this craft."""
    return furnace_bonus(world, state, kind) > 0


def skill_bonus(world: World, state: PlayerState, kind: str) -> float:
    """Experience in this craft, as a capped chance bonus."""
    c = world.econ.crafting
    exp = state.alchemy_exp if kind == "alchemy" else state.forging_exp
    return min(c.skill_cap, exp * c.skill_per_exp)


def craft_chance(world: World, state: PlayerState, recipe: Recipe) -> float:
    """The chance that one batch of ``recipe`` succeeds for this player here and now."""
    c = world.econ.crafting
    kind = recipe.kind
    place = c.places.get(state.location)
    techs = sum(float(getattr(c.techniques[t], kind)) for t in state.techniques
                if t in c.techniques)
    chance = (recipe.base_chance + skill_bonus(world, state, kind)
              + furnace_bonus(world, state, kind)
              + (float(getattr(place, kind)) if place else 0.0) + techs)
    return max(c.min_chance, min(c.max_chance, chance))


def known_recipes(world: World, state: PlayerState) -> list[Recipe]:
    """The recipes the player knows (learnt or given at the start) that exist in this world."""
    ids = [*world.econ.crafting.start_recipes,
           *(r for r in state.recipes if r not in world.econ.crafting.start_recipes)]
    return [world.recipes[r] for r in ids if r in world.recipes]


def learn(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Study a 丹方 or 图谱 (``action.item``): learn its recipes; the item is used up."""
    item = carried_item(world, state, action.item, "要参悟哪本丹方或图谱？请给出物品（item）。")
    item_id = item.id
    if item.kind != "recipe":
        raise ActionRefused(f"{item.name}不是丹方或图谱。", code="not_a_recipe")
    known = {r.id for r in known_recipes(world, state)}
    new = [r for r in item.effects.recipes if r not in known]
    if not new:
        raise ActionRefused(f"{item.name}所载之法你都已掌握。", code="already_known")
    after = replace(state.with_item(item_id, -1), recipes=(*state.recipes, *new))
    names = "、".join(world.recipes[r].name for r in new)
    summary = f"参悟{item.name}，学会：{names}。"
    return finish(
        world, action="learn", before=state, after=after, success=True, summary=summary,
        kind="learn", days=world.econ.days.learn, facts={"item": item.name, "recipes": names},
        events=[{"type": "learn", "item": item_id, "recipes": new}],
    )


def craft(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Craft ``count`` batches of the recipe ``action.target``; each batch rolls its chance."""
    recipe_id = action.target
    if not recipe_id:
        raise ActionRefused("要炼制什么？请给出丹方（target）。", code="missing_target")
    recipe = world.recipes.get(recipe_id)
    if recipe is None:
        raise ActionRefused(f"没有名为“{recipe_id}”的丹方或图谱。", code="unknown_recipe")
    if recipe.id not in {r.id for r in known_recipes(world, state)}:
        raise ActionRefused(f"你尚未学会{recipe.name}的炼法。", code="recipe_unknown")
    craft_name = CRAFT_NAMES[recipe.kind]
    require_realm(world, state, recipe.min_realm, f"{craft_name}{recipe.name}")
    if not has_furnace(world, state, recipe.kind):
        tool = "丹炉" if recipe.kind == "alchemy" else "器炉"
        raise ActionRefused(f"{craft_name}须随身携带{tool}。", code="no_furnace")
    count = count_of(world, action.count)
    require_items(world, state, recipe.inputs, count)
    require_stones(state, recipe.spirit_stones * count)
    chance = craft_chance(world, state, recipe)
    c = world.econ.crafting
    after = replace(state, spirit_stones=state.spirit_stones - recipe.spirit_stones * count)
    made = 0
    for _ in range(count):
        after = take_items(after, recipe.inputs)
        if rng.random() < chance:
            made += 1
        else:
            kept = {i: int(n * c.failure_keeps) for i, n in recipe.inputs.items()}
            after = give_items(after, {i: n for i, n in kept.items() if n})
    exp = made * c.exp_success + (count - made) * c.exp_failure
    if recipe.kind == "alchemy":
        after = replace(after, alchemy_exp=after.alchemy_exp + exp)
    else:
        after = replace(after, forging_exp=after.forging_exp + exp)
    after = after.with_item(recipe.output, made * recipe.count)
    product = world.items[recipe.output].name
    gains = describe_gains(world, state, after)
    summary = (f"{craft_name}{recipe.name}{count}炉（成功率{round(chance * 100)}%），"
               f"成{made}炉：{gains}。")
    return finish(
        world, action="craft", before=state, after=after, success=made > 0, summary=summary,
        kind="craft", days=recipe.days * count,
        facts={"recipe": recipe.name, "craft_kind": craft_name,
               "chance_percent": round(chance * 100), "batches": count, "successes": made,
               "product": product, "inputs": item_list(world, recipe.inputs)},
        events=[{"type": "craft", "recipe": recipe.id, "batches": count, "successes": made,
                 "output": recipe.output, "made": made * recipe.count}],
    )
