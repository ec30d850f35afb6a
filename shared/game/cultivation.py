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
from shared.game.items import carried_item
from shared.game.lifespan import end
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

    base qi x realm scale x root speed x location density x (1 + technique + element affinity)
    x the injury factor (each level of lasting injury slows cultivation until healed).
    """
    rules = world.rules
    root = world.roots[state.root]
    loc = world.locations[state.location]
    tech = main_technique(world, state)
    tech_bonus = technique_cultivation_bonus(world, state, tech) if tech else 0.0
    affinity = rules.element_affinity_bonus if loc.element in root.elements else 0.0
    return (rules.cultivate_base_qi * realm_of(world, state).qi_scale * root.cultivation_speed
            * loc.qi_density * (1.0 + tech_bonus + affinity) * injury_factor(world, state))


def injury_factor(world: World, state: PlayerState) -> float:
    """How much of the normal cultivation speed lasting injuries leave (at least 10%)."""
    return max(0.1, 1.0 - state.injury * world.rules.stakes.injury_cultivation_penalty)


def cultivate_days(world: World, state: PlayerState) -> int:
    """Game days one 修炼 takes in the current realm (higher realms meditate longer)."""
    return realm_of(world, state).cultivate_days or world.rules.days.cultivate


def cultivate(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Gather qi; refused once the stage's cap is reached (the player must break through)."""
    required = qi_required(world, state)
    if state.qi >= qi_cap(world, state):
        raise ActionRefused("修为已至瓶颈，再修炼也无寸进，当尝试突破。", code="qi_full")
    rate = cultivation_rate(world, state)
    gain = max(1, round(jitter(rng, rate, world.rules.cultivate_variance)))
    after = with_qi(world, state, gain)
    absorbed = after.qi - state.qi
    days = cultivate_days(world, state)
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
    ``stage_chance``) + root + place + pill + buff + techniques + failure streak
    + preparation (major steps only) - 心魔, clamped.
    Raises ``ActionRefused(code="peak_realm")`` at the very top (the next step is ``ascend``).
    """
    nxt = next_position(world, state)
    if nxt is None:
        raise ActionRefused("已至此界巅峰，再无可破之境，当飞升（ascend）。", code="peak_realm")
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
        "preparation": (state.preparation * rules.stakes.preparation_breakthrough_bonus
                        if major else 0.0),
        "heart_demon": -state.heart_demon * rules.stakes.heart_demon_penalty,
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
        item = carried_item(world, state, requested)
        if not pill_applies(item, probe.target_realm, probe.major):
            raise ActionRefused(f"{item.name}对此次突破无益。", code="pill_not_applicable")
        return item
    carried = [world.items[i] for i in sorted(state.inventory) if i in world.items]
    useful = [it for it in carried
              if it.effects.for_realm is not None
              and pill_applies(it, probe.target_realm, probe.major)]
    return max(useful, key=lambda it: it.effects.breakthrough_bonus, default=None)


@dataclass(frozen=True)
class Tribulation:
    """The odds of surviving the 天劫 of a breakthrough and where each part comes from."""

    survival: float
    parts: MappingProxyType[str, float]


def tribulation_odds(
    world: World, state: PlayerState, target_realm: str, pill: Item | None = None
) -> Tribulation | None:
    """The 天劫 that meets a successful breakthrough into ``target_realm`` (None: there is none).

    Base (the realm's ``tribulation``) + preparation + a worn artifact + the place's
    ``breakthrough_bonus`` + the pill taken - 心魔, clamped: preparation is what the player can
    do about it.
    """
    base = world.realm(target_realm).tribulation
    if base is None:
        return None
    st = world.rules.stakes
    parts = {
        "base": base,
        "preparation": state.preparation * st.tribulation_per_preparation,
        "artifact": st.tribulation_artifact_bonus if state.equipped else 0.0,
        "place": world.locations[state.location].breakthrough_bonus * st.tribulation_place_factor,
        "pill": pill.effects.breakthrough_bonus if pill else 0.0,
        "heart_demon": -state.heart_demon * st.heart_demon_penalty,
    }
    total = min(st.max_tribulation_survival, max(st.min_tribulation_survival, sum(parts.values())))
    rounded = MappingProxyType({k: round(v, 4) for k, v in parts.items()})
    return Tribulation(round(total, 4), rounded)


def gate_problem(world: World, state: PlayerState, probe: Chance, pill: Item | None) -> str | None:
    """Why a major breakthrough may not be attempted yet (瓶颈), or None when the gate is met:
    the pill taken is one the gate names, or the preparation is enough."""
    if not probe.major:
        return None
    target = world.realm(probe.target_realm)
    gate = target.gate
    if gate is None or (pill is not None and pill.id in gate.items):
        return None
    if state.preparation >= gate.preparation:
        return None
    need = "、".join(world.items[i].name for i in gate.items if i in world.items)
    pill_part = f"须服{need}，或" if need else "须"
    return (f"冲击{target.name}乃大境界瓶颈：{pill_part}闭关准备（prepare）至{gate.preparation}"
            f"（现{state.preparation}）。")


def breakthrough(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Attempt to reach the next stage (or realm). Needs the stage's qi (and, for a major realm,
    its gate); failure costs qi and hp and may injure or bring 心魔; a major breakthrough into a
    realm with a 天劫 must then survive it."""
    probe = breakthrough_chance(world, state)  # refuses at the peak first
    required = qi_required(world, state)
    if state.qi < required:
        raise ActionRefused(f"修为不足（{state.qi}/{required}），尚不能突破。",
                            code="not_enough_qi")
    pill = choose_pill(world, state, action.item, probe)
    problem = gate_problem(world, state, probe, pill)
    if problem is not None:
        raise ActionRefused(problem, code="gate_not_met")
    chance = breakthrough_chance(world, state, pill)
    roll = rng.random()
    success = roll < chance.total
    base = replace(state, breakthrough_buff=0.0)
    if chance.major:
        base = replace(base, preparation=0)  # the preparation is spent on the attempt
    if pill is not None:
        base = base.with_item(pill.id, -1)
    old_title = title_of(world, state)
    new_title = title(world, chance.target_realm, chance.target_stage)
    pct = round(chance.total * 100)
    pill_name = pill.name if pill else "无"
    event: dict[str, object] = {
        "type": "breakthrough", "major": chance.major, "chance": chance.total,
        "roll": round(roll, 4), "success": success, "parts": dict(chance.parts),
        "pill": pill.id if pill else None}
    days = world.rules.days.breakthrough
    if success:
        trib = tribulation_odds(world, state, chance.target_realm, pill) if chance.major else None
        facts: dict[str, object] = {
            "chance_percent": pct, "old_realm": old_title, "new_realm": new_title,
            "major": chance.major, "pill": pill_name}
        if trib is not None:
            t_roll = rng.random()
            t_pct = round(trib.survival * 100)
            event["tribulation"] = {"survival": trib.survival, "roll": round(t_roll, 4),
                                    "survived": t_roll < trib.survival, "parts": dict(trib.parts)}
            facts["tribulation_percent"] = t_pct
            if t_roll >= trib.survival:
                after = end(replace(base, qi=state.qi - required, hp=0), "tribulation")
                summary = (f"突破{new_title}（成功率{pct}%），天劫降临（生还几率{t_pct}%），"
                           f"雷火加身，未能渡过。")
                return finish(
                    world, action="breakthrough", before=state, after=after, success=False,
                    summary=summary, kind="breakthrough_failure", days=days, events=[event],
                    facts={"chance_percent": pct, "target_realm": new_title, "major": True,
                           "pill": pill_name, "qi_lost": required, "hp_lost": state.hp,
                           "tribulation_percent": t_pct},
                )
        after = _advance(world, base, chance, required)
        summary = f"突破成功（成功率{pct}%）：{old_title}→{new_title}。"
        if trib is not None:
            summary += f"天劫降临（生还几率{round(trib.survival * 100)}%），安然渡过。"
        return finish(
            world, action="breakthrough", before=state, after=after, success=True,
            summary=summary, kind="breakthrough_success", days=days, events=[event],
            facts=facts,
        )
    rules = world.rules
    st = rules.stakes
    mult = rules.major_failure_multiplier if chance.major else 1.0
    qi_lost = min(state.qi, round(state.qi * rules.failure_qi_loss * mult))
    hp_lost = min(state.hp - 1, max(1, round(state.max_hp * rules.failure_hp_loss * mult)))
    hp_lost = max(0, hp_lost)  # never below 1 hp: a failed attempt wounds, it does not kill
    injured = rng.random() < min(1.0, st.failure_injury_chance * mult)
    demon = rng.random() < st.failure_heart_demon_chance
    after = replace(base, qi=state.qi - qi_lost, hp=state.hp - hp_lost,
                    failed_breakthroughs=state.failed_breakthroughs + 1,
                    injury=min(st.max_injury, state.injury + (1 if injured else 0)),
                    heart_demon=min(st.max_heart_demon, state.heart_demon + (1 if demon else 0)))
    event["injury"] = after.injury - state.injury
    event["heart_demon"] = after.heart_demon - state.heart_demon
    summary = (f"突破{new_title}失败（成功率{pct}%）：修为-{qi_lost}，气血-{hp_lost}。")
    if after.injury > state.injury:
        summary += f"经脉受创（伤势{after.injury}），修炼将迟缓，须调息疗伤。"
    if after.heart_demon > state.heart_demon:
        summary += f"心魔滋生（心魔{after.heart_demon}），突破更难。"
    return finish(
        world, action="breakthrough", before=state, after=after, success=False,
        summary=summary, kind="breakthrough_failure", days=days, events=[event],
        facts={"chance_percent": pct, "target_realm": new_title, "major": chance.major,
               "pill": pill_name, "qi_lost": qi_lost, "hp_lost": hp_lost,
               "injury": after.injury, "heart_demon": after.heart_demon},
    )


def prepare(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """闭关准备: spend days and spirit stones for one point of preparation, which opens a major
    realm's gate and raises the next major breakthrough's and 天劫's odds."""
    st = world.rules.stakes
    if state.preparation >= st.max_preparation:
        raise ActionRefused(f"准备已足（{state.preparation}/{st.max_preparation}），"
                            f"当择机突破。", code="preparation_full")
    cost = realm_of(world, state).prepare_cost
    if state.spirit_stones < cost:
        raise ActionRefused(f"闭关准备需灵石{cost}（现{state.spirit_stones}）。",
                            code="not_enough_stones")
    after = replace(state, spirit_stones=state.spirit_stones - cost,
                    preparation=state.preparation + 1)
    days = st.prepare_days
    summary = (f"闭关准备{days}日，耗灵石{cost}，准备{after.preparation}/{st.max_preparation}。")
    outlook = ""
    nxt = next_position(world, after)
    if nxt is not None and world.realms[nxt.realm].id != after.realm:
        chance = breakthrough_chance(world, after)
        target = world.realms[nxt.realm]
        outlook = f"冲击{target.name}：成功率{round(chance.total * 100)}%"
        trib = tribulation_odds(world, after, target.id)
        if trib is not None:
            outlook += f"，天劫生还{round(trib.survival * 100)}%"
        outlook += "。"
    facts: dict[str, object] = {"days": days, "cost": cost, "preparation": after.preparation,
                                "max_preparation": st.max_preparation, "outlook": outlook}
    if nxt is not None and outlook:
        facts["chance_percent"] = round(breakthrough_chance(world, after).total * 100)
        trib = tribulation_odds(world, after, world.realms[nxt.realm].id)
        if trib is not None:
            facts["tribulation_percent"] = round(trib.survival * 100)
    return finish(
        world, action="prepare", before=state, after=after, success=True,
        summary=summary + outlook, kind="prepare", days=days, facts=facts,
        events=[{"type": "prepare", "preparation": after.preparation, "cost": cost}],
    )


def ascend(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """飞升: at the very peak with full qi, the story ends in triumph."""
    required = qi_required(world, state)
    if next_position(world, state) is not None:
        raise ActionRefused("唯有渡劫圆满者方可飞升。", code="not_at_peak")
    if state.qi < required:
        raise ActionRefused(f"修为未满（{state.qi}/{required}），尚不能飞升。",
                            code="not_enough_qi")
    old_title = title_of(world, state)
    after = end(replace(state, qi=state.qi - required), "ascended")
    summary = f"{old_title}圆满，霞光接引，破界飞升。"
    return finish(
        world, action="ascend", before=state, after=after, success=True, summary=summary,
        kind="ascend", days=world.rules.stakes.ascend_days,
        facts={"old_realm": old_title},
        events=[{"type": "ascend", "realm": state.realm}],
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
