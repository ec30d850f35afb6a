"""The gameworld actions open to a player here and now, for bots and the page.

Each returned :class:`Action` passes the rules' checks at the moment (it may still fail as an
outcome: a trial or hunt is a real fight, a craft a real roll). Pure and deterministic.
"""

from __future__ import annotations

from shared.data import World
from shared.game.action import Action
from shared.game.crafting import has_furnace, known_recipes
from shared.game.favour import favour_of
from shared.game.progress import realm_allows
from shared.game.quests import available_quests, quest_done
from shared.game.sects import sect_of
from shared.game.shop import offers, sell_price, shops_here
from shared.game.state import PlayerState


def _has(state: PlayerState, items: dict[str, int]) -> bool:
    return all(state.count(i) >= n for i, n in items.items())


def sect_options(world: World, state: PlayerState) -> list[Action]:
    """Join (at a sect's home), missions, exchanges and promotion."""
    out: list[Action] = []
    sect = sect_of(world, state)
    if sect is None:
        for s in world.sects.values():
            t = s.trial
            if (s.location == state.location and f"left:{s.id}" not in state.claimed
                    and realm_allows(world, state, t.min_realm) and _has(state, t.items)
                    and state.spirit_stones >= t.spirit_stones):
                out.append(Action("join_sect", target=s.id))
        return out
    for m in sect.missions:
        st = m.step
        if state.sect_rank < m.min_rank:
            continue
        if st.location is not None and st.location != state.location:
            continue
        if st.kind == "deliver" and not _has(state, st.items):
            continue
        out.append(Action("sect_mission", target=m.id))
    if state.location == sect.location:
        for e in sect.exchange:
            if state.sect_rank >= e.min_rank and state.contribution >= e.cost:
                out.append(Action("exchange", item=e.item))
        if state.sect_rank + 1 < len(sect.ranks):
            nxt = sect.ranks[state.sect_rank + 1]
            if state.contribution >= nxt.cost and realm_allows(world, state, nxt.min_realm):
                out.append(Action("promote"))
    return out


def trade_options(world: World, state: PlayerState) -> list[Action]:
    """One unit of everything affordable in the shops here, and one of everything sellable."""
    out: list[Action] = []
    shops = shops_here(world, state)
    for shop in shops:
        for entry, price, allowed in offers(world, state, shop):
            if allowed and state.spirit_stones >= price:
                out.append(Action("buy", target=shop.id, item=entry.item))
    buyer = next((s for s in shops if s.buys), None)
    if buyer is not None:
        for item_id in sorted(state.inventory):
            if item_id in world.items and sell_price(world, item_id) > 0:
                out.append(Action("sell", target=buyer.id, item=item_id))
    return out


def craft_options(world: World, state: PlayerState) -> list[Action]:
    """Recipes to learn from carried books, and one batch of every recipe craftable now."""
    known = {r.id for r in known_recipes(world, state)}
    out = [Action("learn", item=i) for i in sorted(state.inventory)
           if i in world.items and world.items[i].kind == "recipe"
           and any(r not in known for r in world.items[i].effects.recipes)]
    for r in known_recipes(world, state):
        if (realm_allows(world, state, r.min_realm) and has_furnace(world, state, r.kind)
                and _has(state, dict(r.inputs)) and state.spirit_stones >= r.spirit_stones):
            out.append(Action("craft", target=r.id))
    return out


def quest_options(world: World, state: PlayerState) -> list[Action]:
    """Quests to accept here, and accepted quests whose next step can be tried now."""
    out = [Action("quest", target=q.id) for q in available_quests(world, state)]
    for quest_id, done in sorted(state.quests.items()):
        q = world.quests.get(quest_id)
        if q is None or quest_done(state, q):
            continue
        st = q.steps[done]
        if st.location is not None and st.location != state.location:
            continue
        if st.kind == "deliver" and not _has(state, st.items):
            continue
        if st.kind == "realm" and not realm_allows(world, state, st.min_realm):
            continue
        out.append(Action("quest", target=q.id))
    return out


def gift_options(world: World, state: PlayerState) -> list[Action]:
    """One unit of each liked item carried, to each NPC here who likes it (favour not maxed)."""
    out: list[Action] = []
    for npc_id in world.locations[state.location].npcs:
        npc = world.npcs[npc_id]
        if favour_of(state, npc_id) >= world.econ.favour.max:
            continue
        out += [Action("give", target=npc_id, item=i) for i in npc.likes if state.count(i) > 0]
    return out


def world_options(world: World, state: PlayerState) -> list[Action]:
    """Every gameworld action the rules would accept now (see the module docstring)."""
    if not state.alive or state.ended or state.pending_choice is not None:
        return []  # a downed or ended cultivator, or a choice waiting (gamecore), gets none
    return [*sect_options(world, state), *trade_options(world, state),
            *craft_options(world, state), *quest_options(world, state),
            *gift_options(world, state)]
