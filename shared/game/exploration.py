"""探索: a weighted event among those whose conditions hold here and now."""

from __future__ import annotations

import random
from dataclasses import replace

from shared.data import World
from shared.data.models import Effects, Event
from shared.game.action import Action
from shared.game.combat import RESULT_NAMES, FightResult, fight_monster, fight_summary
from shared.game.finish import describe_gains, finish
from shared.game.outcome import Outcome
from shared.game.progress import learn_technique, realm_allows, with_qi
from shared.game.rng import weighted_choice
from shared.game.sects import sect_event_factor
from shared.game.state import PlayerState

EVENT_KIND_NAMES = {"encounter": "遭遇", "treasure": "宝物", "ambush": "伏击",
                    "fortune": "奇遇", "hazard": "险境"}


def event_eligible(world: World, state: PlayerState, event: Event) -> bool:
    """True when ``event`` may happen to this player at their location now."""
    c = event.conditions
    if c.locations is not None and state.location not in c.locations:
        return False
    rank = world.realm_index(state.realm)
    if rank < world.realm_index(c.min_realm) or rank > world.realm_index(
        c.max_realm, default=len(world.realms) - 1
    ):
        return False
    if world.locations[state.location].danger < c.min_danger:
        return False
    if state.spirit_stones < c.min_spirit_stones:
        return False
    if c.requires_item is not None and state.count(c.requires_item) <= 0:
        return False
    return c.lacks_technique is None or c.lacks_technique not in state.techniques


def eligible_events(world: World, state: PlayerState) -> list[Event]:
    """Every event that may happen now, in data order."""
    return [ev for ev in world.events.values() if event_eligible(world, state, ev)]


def apply_effects(
    world: World, state: PlayerState, eff: Effects, rng: random.Random
) -> tuple[PlayerState, FightResult | None]:
    """Apply an event outcome's effects, then its fight if it has one.

    An event's own hp loss leaves at least 1 hp (only a fight can knock a cultivator down).
    """
    max_hp = state.max_hp + eff.max_hp
    after = replace(
        state,
        max_hp=max_hp,
        hp=min(max_hp, max(1, state.hp + eff.max_hp + eff.hp)),
        attack=state.attack + eff.attack,
        defense=state.defense + eff.defense,
        spirit_stones=max(0, state.spirit_stones + eff.spirit_stones),
        injury=min(world.rules.stakes.max_injury, state.injury + eff.injury),
    )
    after = with_qi(world, after, eff.qi)
    for item_id, count in sorted(eff.items.items()):
        after = after.with_item(item_id, count)
    if eff.technique is not None and realm_allows(
        world, after, world.techniques[eff.technique].min_realm
    ):
        after = learn_technique(world, after, eff.technique)
    if eff.fight is None:
        return after, None
    fr = fight_monster(world, after, world.monsters[eff.fight], rng)
    return fr.state, fr


def options_line(world: World, event: Event) -> str:
    """The options of an event's choice as a player reads them, e.g. ``可选：力战、施舍灵石
    （需灵石5）。`` (the ids an API client sends with ``choose`` are in the outcome's
    ``choice`` event)."""
    return "可选：" + "、".join(
        f"{c.label}（需灵石{c.cost}）" if c.cost else c.label for c in event.choices) + "。"


def choose_line(world: World, event: Event) -> str:
    """The options with the ids ``choose`` takes, for a refusal that asks for one, e.g.
    ``可选（choose）：fight（力战）、flee（遁走）。``"""
    return "可选（choose）：" + "、".join(
        f"{c.id}（{c.label}，需灵石{c.cost}）" if c.cost else f"{c.id}（{c.label}）"
        for c in event.choices) + "。"


def explore(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Explore the current location: one weighted event, one weighted outcome of it."""
    loc = world.locations[state.location]
    days = world.rules.days.explore
    candidates = eligible_events(world, state)
    if not candidates:
        summary = f"在{loc.name}探索{days}日，一无所获。"
        return finish(
            world, action="explore", before=state, after=state, success=False,
            summary=summary, kind="explore", days=days,
            facts={"event": "无", "event_kind": "无", "event_text": "四下寂然，并无所得。",
                   "rewards": "无", "fight_result": "无"},
            events=[{"type": "event", "id": None}],
        )
    # gameworld: the player's sect and its rivals make some events likelier or rarer
    event = weighted_choice(rng, candidates,
                            lambda e: e.weight * sect_event_factor(world, state, e))
    index = rng.choices(range(len(event.outcomes)),
                        weights=[o.weight for o in event.outcomes], k=1)[0]
    branch = event.outcomes[index]
    after, fr = apply_effects(world, state, branch.effects, rng)
    rewards = describe_gains(world, state, after)
    # Nothing gained: the scene itself is the news, not a bare "无".
    told = rewards if rewards != "无" else branch.text.rstrip("。")
    summary = f"在{loc.name}探索，遇「{event.name}」：{told}。"
    events: list[dict[str, object]] = [
        {"type": "event", "id": event.id, "kind": event.kind, "outcome": index}
    ]
    if event.choices and fr is None:
        # The scene is set; what happens next is the player's choice (``choose``).
        after = replace(after, pending_choice=event.id)
        summary = f"在{loc.name}探索，遇「{event.name}」：{branch.text}{options_line(world, event)}"
        events.append({"type": "choice", "event": event.id, "options": [
            {"id": c.id, "label": c.label, "kind": c.kind, "cost": c.cost}
            for c in event.choices]})
    if fr is not None:
        summary += fight_summary(world, fr)
        events.append(fr.event())
    return finish(
        world, action="explore", before=state, after=after,
        success=fr is None or fr.combat.result == "victory",
        summary=summary, kind="explore", days=days, events=events,
        facts={"event": event.name, "event_kind": EVENT_KIND_NAMES[event.kind],
               "event_text": branch.text, "rewards": rewards,
               "fight_result": RESULT_NAMES[fr.combat.result] if fr else "无"},
    )
