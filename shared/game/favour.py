"""好感: each player-NPC pair's favour, moved by gifts (``give``), quests and choices.

Favour unlocks shop entries, lowers prices, opens quests and brings an NPC's one-time gifts.
"""

from __future__ import annotations

import random
from dataclasses import replace

from shared.data import World
from shared.data.models import Npc
from shared.data.world_models import FavourLevel
from shared.errors import ActionRefused
from shared.game.action import Action
from shared.game.finish import describe_gains, finish
from shared.game.frozen import FrozenDict
from shared.game.outcome import Outcome
from shared.game.state import PlayerState
from shared.game.steps import count_of, give_items


def favour_of(state: PlayerState, npc_id: str) -> int:
    """The player's favour with an NPC (0 for a stranger)."""
    return state.favour.get(npc_id, 0)


def favour_level(world: World, favour: int) -> FavourLevel:
    """The named band ``favour`` falls in."""
    found = world.econ.favour.levels[0]
    for level in world.econ.favour.levels:
        if favour >= level.min:
            found = level
    return found


def favour_level_name(world: World, state: PlayerState, npc_id: str) -> str:
    """e.g. 陌生, 友善: for narration facts (talk) and views."""
    return favour_level(world, favour_of(state, npc_id)).name


def add_favour(world: World, state: PlayerState, npc_id: str, delta: int) -> PlayerState:
    """A copy with favour moved by ``delta`` within the world's bounds (choices may call this)."""
    rules = world.econ.favour
    new = max(rules.min, min(rules.max, favour_of(state, npc_id) + delta))
    favour = dict(state.favour)
    favour[npc_id] = new
    return replace(state, favour=FrozenDict(favour))


def claim_favour_gifts(world: World, state: PlayerState, npc: Npc) -> tuple[PlayerState, list[str]]:
    """Give every one-time favour gift whose threshold the player now meets; their texts."""
    texts: list[str] = []
    for i, fg in enumerate(npc.favour_gifts):
        key = f"favour:{npc.id}:{i}"
        if favour_of(state, npc.id) < fg.min_favour or key in state.claimed:
            continue
        state = give_items(state, fg.items)
        state = replace(state, spirit_stones=state.spirit_stones + fg.spirit_stones,
                        claimed=(*state.claimed, key))
        texts.append(fg.text)
    return state, texts


def choice_favour(world: World, state: PlayerState, event_id: str, option_id: str,
                  ) -> PlayerState:
    """Favour moved by answering ``event_id``'s choice with ``option_id`` (npcs.json
    ``choice_favour``), with any favour gift that now comes due."""
    for npc in world.npcs.values():
        for cf in npc.choice_favour:
            if cf.event == event_id and cf.option == option_id:
                state = add_favour(world, state, npc.id, cf.favour)
                state, _ = claim_favour_gifts(world, state, npc)
    return state


def gift_favour(world: World, npc: Npc, item_id: str, count: int) -> int:
    """Favour a gift of ``count`` × ``item_id`` earns (at least 1, at most max_per_gift)."""
    rules = world.econ.favour
    value = world.items[item_id].value * count
    if item_id in npc.likes:
        value = int(value * rules.liked_multiplier)
    return max(1, min(rules.max_per_gift, value // rules.value_per_point))


def npc_here(world: World, state: PlayerState, npc_id: str | None, verb: str) -> Npc:
    """The NPC ``npc_id`` at the player's location, or the refusal that says why not
    (``verb``: what the player wants to do with them, e.g. 交谈)."""
    if not npc_id:
        raise ActionRefused(f"要与谁{verb}？请给出人物（target）。", code="missing_target")
    npc = world.npcs.get(npc_id)
    if npc is None:
        raise ActionRefused(f"世间并无“{npc_id}”此人。", code="unknown_npc")
    loc = world.locations[state.location]
    if npc_id not in loc.npcs:
        raise ActionRefused(f"{npc.name}不在{loc.name}。", code="npc_not_here")
    return npc


def give(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Give ``count`` × ``action.item`` to the NPC ``action.target`` here."""
    npc = npc_here(world, state, action.target, "赠予")
    npc_id, item_id = npc.id, action.item
    if not item_id:
        raise ActionRefused("要赠送什么？请给出物品（item）。", code="missing_item")
    item = world.items.get(item_id)
    if item is None:
        raise ActionRefused(f"没有名为“{item_id}”的物品。", code="unknown_item")
    count = count_of(world, action.count)
    if state.count(item_id) < count:
        raise ActionRefused(f"你身上的{item.name}不足{count}件。", code="no_such_item")
    if item.value <= 0:
        raise ActionRefused(f"{item.name}一文不值，{npc.name}不会收。", code="worthless")
    if favour_of(state, npc_id) >= world.econ.favour.max:
        raise ActionRefused(f"{npc.name}与你已是莫逆之交，无须再送礼。", code="favour_max")
    gain = gift_favour(world, npc, item_id, count)
    after = add_favour(world, state.with_item(item_id, -count), npc_id, gain)
    after, texts = claim_favour_gifts(world, after, npc)
    gained = after.favour[npc_id] - favour_of(state, npc_id)
    returned = describe_gains(world, state.with_item(item_id, -count), after)
    level = favour_level_name(world, after, npc_id)
    summary = f"赠{npc.name}{item.name}×{count}，好感+{gained}（{level}）。"
    if texts:
        summary += "".join(texts) + f"获赠：{returned}。"
    return finish(
        world, action="give", before=state, after=after, success=True, summary=summary,
        kind="give", days=world.econ.days.give,
        facts={"npc": npc.name, "item": item.name, "count": count, "favour_gain": gained,
               "favour": after.favour[npc_id], "favour_level": level,
               "gift": "；".join(texts) or "无"},
        events=[{"type": "give", "npc": npc.id, "item": item_id, "count": count,
                 "favour": after.favour[npc_id]}],
    )
