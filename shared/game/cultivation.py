"""修炼 and 突破: gathering qi, and breaking through to the next stage or realm."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from types import MappingProxyType

from shared.data import World
from shared.data.models import Item, StatGain
from shared.errors import ActionRefused
from shared.game.action import Action
from shared.game.finish import finish
from shared.game.outcome import Outcome
from shared.game.progress import (
    known_techniques,
    main_technique,
    next_position,
    qi_cap,
    qi_required,
    realm_of,
    technique_cultivation_bonus,
    title,
    title_of,
    with_qi,
)
from shared.game.rng import jitter
from shared.game.state import PlayerState


def cultivation_rate(world: World, state: PlayerState) -> float:
    """Expected qi of one cultivation before the random spread.

    base qi x realm scale x root speed x location density x (1 + technique + element affinity).
    """
    rules = world.rules
    root = world.roots[state.root]
    loc = world.locations[state.location]
    tech = main_technique(world, state)
    tech_bonus = technique_cultivation_bonus(world, state, tech) if tech else 0.0
    affinity = rules.element_affinity_bonus if loc.element in root.elements else 0.0
    return (rules.cultivate_base_qi * realm_of(world, state).qi_scale * root.cultivation_speed
            * loc.qi_density * (1.0 + tech_bonus + affinity))


def cultivate(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Gather qi; refused once the stage's cap is reached (the player must break through)."""
    required = qi_required(world, state)
    if state.qi >= qi_cap(world, state):
        raise ActionRefused("修为已至瓶颈，再修炼也无寸进，当尝试突破。", code="qi_full")
    rate = cultivation_rate(world, state)
    gain = max(1, round(jitter(rng, rate, world.rules.cultivate_variance)))
    after = with_qi(world, state, gain)
    absorbed = after.qi - state.qi
    days = world.rules.days.cultivate
    tech = main_technique(world, state)
    summary = f"闭关修炼{days}日，修为+{absorbed}（{after.qi}/{required}）。"
    if after.qi >= required:
        summary += "修为已足，可尝试突破。"
    return finish(
        world, action="cultivate", before=state, after=after, success=True, summary=summary,
        kind="cultivate", days=days,
        facts={"qi_gain": absorbed, "technique": tech.name if tech else "无", "days": days},
        events=[{"type": "cultivate", "rate": round(rate, 2), "rolled": gain,
                 "absorbed": absorbed, "technique": tech.id if tech else None}],
    )


@dataclass(frozen=True)
class Chance:
    """A breakthrough chance and where each part of it comes from."""

    total: float
    parts: MappingProxyType[str, float]
    major: bool
    target_realm: str
    target_stage: int


def breakthrough_chance(world: World, state: PlayerState, pill: Item | None = None) -> Chance:
    """The chance of the next breakthrough with ``pill`` taken now (plus any active buff).

    Base (the target realm's ``breakthrough_chance`` for a major step, else the current realm's
    ``stage_chance``) + root + place + pill + buff + techniques + failure streak, clamped.
    Raises ``ActionRefused(code="peak_realm")`` at the very top.
    """
    nxt = next_position(world, state)
    if nxt is None:
        raise ActionRefused("已至此界巅峰，飞升之路尚未开启。", code="peak_realm")
    rules = world.rules
    current = realm_of(world, state)
    target = world.realms[nxt.realm]
    major = target.id != current.id
    parts = {
        "base": target.breakthrough_chance if major else current.stage_chance,
        "root": world.roots[state.root].breakthrough_bonus,
        "place": world.locations[state.location].breakthrough_bonus,
        "pill": pill.effects.breakthrough_bonus if pill else 0.0,
        "buff": state.breakthrough_buff,
        "technique": sum(t.effects.breakthrough_bonus for t in known_techniques(world, state)),
        "streak": state.failed_breakthroughs * rules.failure_streak_bonus,
    }
    total = min(rules.max_breakthrough_chance,
                max(rules.min_breakthrough_chance, sum(parts.values())))
    return Chance(round(total, 4), MappingProxyType({k: round(v, 4) for k, v in parts.items()}),
                  major, target.id, nxt.stage)


def pill_applies(item: Item, target_realm: str, major: bool) -> bool:
    """A breakthrough pill helps this attempt: generic ones always, ``for_realm`` ones only for
    the major breakthrough into that realm."""
    eff = item.effects
    if eff.breakthrough_bonus <= 0:
        return False
    return eff.for_realm is None or (major and eff.for_realm == target_realm)


def choose_pill(
    world: World, state: PlayerState, requested: str | None, probe: Chance
) -> Item | None:
    """The pill taken with this attempt (``probe``: the chance without a pill): the one asked
    for, else the best realm-specific pill carried for this very breakthrough (generic pills
    are only taken when asked for, or beforehand with use_item)."""
    if requested is not None:
        item = world.items.get(requested)
        if item is None:
            raise ActionRefused(f"没有名为“{requested}”的物品。", code="unknown_item")
        if state.count(requested) <= 0:
            raise ActionRefused(f"你身上没有{item.name}。", code="no_such_item")
        if not pill_applies(item, probe.target_realm, probe.major):
            raise ActionRefused(f"{item.name}对此次突破无益。", code="pill_not_applicable")
        return item
    carried = [world.items[i] for i in sorted(state.inventory) if i in world.items]
    useful = [it for it in carried
              if it.effects.for_realm is not None
              and pill_applies(it, probe.target_realm, probe.major)]
    return max(useful, key=lambda it: it.effects.breakthrough_bonus, default=None)


def breakthrough(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Attempt to reach the next stage (or realm). Needs the stage's qi; failure costs qi and hp."""
    probe = breakthrough_chance(world, state)  # refuses at the peak first
    required = qi_required(world, state)
    if state.qi < required:
        raise ActionRefused(f"修为不足（{state.qi}/{required}），尚不能突破。",
                            code="not_enough_qi")
    pill = choose_pill(world, state, action.item, probe)
    chance = breakthrough_chance(world, state, pill)
    roll = rng.random()
    success = roll < chance.total
    base = replace(state, breakthrough_buff=0.0)
    if pill is not None:
        base = base.with_item(pill.id, -1)
    old_title = title_of(world, state)
    new_title = title(world, chance.target_realm, chance.target_stage)
    pct = round(chance.total * 100)
    pill_name = pill.name if pill else "无"
    event = {"type": "breakthrough", "major": chance.major, "chance": chance.total,
             "roll": round(roll, 4), "success": success, "parts": dict(chance.parts),
             "pill": pill.id if pill else None}
    days = world.rules.days.breakthrough
    if success:
        after = _advance(world, base, chance, required)
        summary = f"突破成功（成功率{pct}%）：{old_title}→{new_title}。"
        return finish(
            world, action="breakthrough", before=state, after=after, success=True,
            summary=summary, kind="breakthrough_success", days=days, events=[event],
            facts={"chance_percent": pct, "old_realm": old_title, "new_realm": new_title,
                   "major": chance.major, "pill": pill_name},
        )
    rules = world.rules
    mult = rules.major_failure_multiplier if chance.major else 1.0
    qi_lost = min(state.qi, round(state.qi * rules.failure_qi_loss * mult))
    hp_lost = min(state.hp - 1, max(1, round(state.max_hp * rules.failure_hp_loss * mult)))
    hp_lost = max(0, hp_lost)  # never below 1 hp: a failed attempt wounds, it does not kill
    after = replace(base, qi=state.qi - qi_lost, hp=state.hp - hp_lost,
                    failed_breakthroughs=state.failed_breakthroughs + 1)
    summary = (f"突破{new_title}失败（成功率{pct}%）：修为-{qi_lost}，气血-{hp_lost}。")
    return finish(
        world, action="breakthrough", before=state, after=after, success=False,
        summary=summary, kind="breakthrough_failure", days=days, events=[event],
        facts={"chance_percent": pct, "target_realm": new_title, "major": chance.major,
               "pill": pill_name, "qi_lost": qi_lost, "hp_lost": hp_lost},
    )


def _advance(world: World, state: PlayerState, chance: Chance, required: int) -> PlayerState:
    """The state after a successful breakthrough: spend the qi, move up, grow stronger."""
    target = world.realm(chance.target_realm)
    gains: StatGain = target.entry_gains if chance.major else target.stage_gains
    max_hp = state.max_hp + gains.max_hp
    # A major breakthrough remakes the body (脱胎换骨): wounds heal completely.
    hp = max_hp if chance.major else state.hp + gains.max_hp
    return replace(
        state,
        realm=target.id,
        stage=chance.target_stage,
        qi=state.qi - required,
        max_hp=max_hp,
        hp=hp,
        attack=state.attack + gains.attack,
        defense=state.defense + gains.defense,
        failed_breakthroughs=0,
    )
