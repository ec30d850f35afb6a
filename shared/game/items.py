"""使用物品: pills, artifacts (equipped) and technique manuals."""

from __future__ import annotations

import random
from dataclasses import replace

from shared.data import World
from shared.data.models import Item
from shared.errors import ActionRefused
from shared.game.action import Action
from shared.game.finish import describe_gains, finish
from shared.game.outcome import Outcome
from shared.game.progress import learn_technique, realm_allows, with_qi
from shared.game.state import PlayerState, diff_fields

KIND_NAMES = {"pill": "丹药", "material": "材料", "artifact": "法宝", "manual": "功法玉简"}


def carried_item(world: World, state: PlayerState, item_id: str | None,
                 missing: str = "要使用什么？请给出物品（item）。") -> Item:
    """The item ``item_id`` when the player carries at least one, or the refusal saying why
    (``missing``: what to say when no item was named)."""
    if not item_id:
        raise ActionRefused(missing, code="missing_item")
    item = world.items.get(item_id)
    if item is None:
        raise ActionRefused(f"没有名为“{item_id}”的物品。", code="unknown_item")
    if state.count(item_id) <= 0:
        raise ActionRefused(f"你身上没有{item.name}。", code="no_such_item")
    return item


def use_item(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Use one ``action.item`` from the inventory."""
    item = carried_item(world, state, action.item)
    item_id = item.id
    if item.kind == "material":
        raise ActionRefused(f"{item.name}是炼器炼丹之材，无法直接使用。", code="not_usable")
    # --- gameworld: furnaces serve craft, 丹方/图谱 are studied with learn ---
    if item.kind in ("tool", "recipe"):
        how = "随身携带即可用于炼制（craft）" if item.kind == "tool" else "须以参悟（learn）习得"
        raise ActionRefused(f"{item.name}{how}。", code="not_usable")
    # --- end gameworld ---
    if state.equipped == item_id:
        raise ActionRefused(f"{item.name}已在你身上祭炼着。", code="already_equipped")
    spent = state.with_item(item_id, -1)
    if item.kind == "manual":
        after = _study(world, spent, item)
    elif item.kind == "artifact":
        after = _equip(world, spent, item)
    else:
        after = _swallow(world, spent, item)
    effect = describe_gains(world, spent, after)
    if after.equipped != state.equipped:
        effect = f"装备{item.name}（{effect}）"
    verb = {"pill": "服用", "manual": "参悟", "artifact": "祭炼"}[item.kind]
    summary = f"{verb}{item.name}：{effect}。"
    return finish(
        world, action="use_item", before=state, after=after, success=True, summary=summary,
        kind="use_item", days=world.rules.days.use_item,
        facts={"item": item.name, "item_kind": KIND_NAMES[item.kind], "effect": effect},
        events=[{"type": "use_item", "item": item.id, "kind": item.kind}],
    )


def _study(world: World, state: PlayerState, item: Item) -> PlayerState:
    tech_id = item.effects.teaches
    assert tech_id is not None  # checked at load: a manual teaches
    tech = world.techniques[tech_id]
    if tech_id in state.techniques:
        raise ActionRefused(f"你早已习得《{tech.name}》。", code="already_known")
    if not realm_allows(world, state, tech.min_realm):
        need = world.realm(tech.min_realm).name if tech.min_realm else ""
        raise ActionRefused(f"《{tech.name}》须{need}以上修为方能参悟。", code="realm_too_low")
    return learn_technique(world, state, tech_id)


def _equip(world: World, state: PlayerState, item: Item) -> PlayerState:
    """Wear an artifact; the one worn before goes back into the bag."""
    attack, defense = state.attack, state.defense
    if state.equipped is not None and state.equipped in world.items:
        old = world.items[state.equipped].effects
        attack, defense = attack - old.attack, defense - old.defense
        state = state.with_item(state.equipped, 1)
    eff = item.effects
    return replace(state, equipped=item.id, attack=attack + eff.attack,
                   defense=defense + eff.defense)


def _swallow(world: World, state: PlayerState, item: Item) -> PlayerState:
    eff = item.effects
    if eff.for_realm is not None:
        raise ActionRefused(f"{item.name}须在冲击{world.realm(eff.for_realm).name}时服用"
                            f"（突破时自动服下）。", code="use_at_breakthrough")
    if eff.breakthrough_bonus and state.breakthrough_buff > 0:
        raise ActionRefused("上一枚破境丹的药力尚未化开，不宜再服。", code="buff_active")
    max_hp = state.max_hp + eff.max_hp
    after = replace(
        state,
        max_hp=max_hp,
        hp=min(max_hp, state.hp + eff.max_hp + eff.hp),
        attack=state.attack + eff.attack,
        defense=state.defense + eff.defense,
        spirit_stones=state.spirit_stones + eff.spirit_stones,
        breakthrough_buff=max(state.breakthrough_buff, eff.breakthrough_bonus),
    )
    after = with_qi(world, after, eff.qi)
    if not diff_fields(state, after):
        raise ActionRefused(f"此时服用{item.name}毫无益处。", code="no_effect")
    return after
