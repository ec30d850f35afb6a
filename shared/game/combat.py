"""Fights: deterministic rounds from the action's generator, then loot or losses."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from shared.data import World
from shared.data.models import Monster, Rules
from shared.errors import ActionRefused
from shared.game.action import Action
from shared.game.finish import describe_gains, finish
from shared.game.lifespan import end
from shared.game.outcome import Outcome
from shared.game.progress import with_qi
from shared.game.rng import jitter
from shared.game.state import PlayerState

RESULT_NAMES = {"victory": "胜", "defeat": "败", "fled": "逃", "draw": "僵持"}


@dataclass(frozen=True)
class Combat:
    """How a fight went: ``rounds`` holds (damage dealt, damage taken) per round."""

    result: str  # victory | defeat | fled | draw
    rounds: tuple[tuple[int, int], ...]
    player_hp: int
    monster_hp: int

    @property
    def damage_dealt(self) -> int:
        """Total damage the player dealt."""
        return sum(d for d, _ in self.rounds)

    @property
    def damage_taken(self) -> int:
        """Total damage the player took."""
        return sum(t for _, t in self.rounds)


def _hit(rules: Rules, attack: int, defense: int, rng: random.Random) -> int:
    """Damage of one blow: attack minus part of the defense, spread, sometimes critical."""
    base = max(1.0, attack - defense * rules.defense_factor)
    dmg = jitter(rng, base, rules.damage_variance)
    if rng.random() < rules.crit_chance:
        dmg *= rules.crit_multiplier
    return max(1, round(dmg))


def resolve_combat(
    rules: Rules, state: PlayerState, monster: Monster, rng: random.Random,
    flee_chance: float | None = None,
) -> Combat:
    """Fight round by round: the player strikes first; when badly hurt, tries to flee (with
    ``flee_chance``, default ``rules.flee_chance``)."""
    flee = rules.flee_chance if flee_chance is None else flee_chance
    hp, m_hp = state.hp, monster.hp
    rounds: list[tuple[int, int]] = []
    for _ in range(rules.combat_max_rounds):
        dealt = _hit(rules, state.attack, monster.defense, rng)
        m_hp = max(0, m_hp - dealt)
        if m_hp == 0:
            rounds.append((dealt, 0))
            return Combat("victory", tuple(rounds), hp, 0)
        taken = _hit(rules, monster.attack, state.defense, rng)
        hp = max(0, hp - taken)
        rounds.append((dealt, taken))
        if hp == 0:
            return Combat("defeat", tuple(rounds), 0, m_hp)
        if hp <= state.max_hp * rules.flee_threshold and rng.random() < flee:
            return Combat("fled", tuple(rounds), hp, m_hp)
    return Combat("draw", tuple(rounds), hp, m_hp)


@dataclass(frozen=True)
class FightResult:
    """A resolved fight applied to the player."""

    state: PlayerState
    combat: Combat
    monster: Monster
    qi_gain: int
    stones_lost: int
    loot: str  # Chinese list of what was won, or 无
    days_lost: int = 0  # days lying wounded after a defeat
    qi_lost: int = 0
    flee_chance: float = 0.0  # the odds of getting away when badly hurt, in this fight
    slain_chance: float = 0.0  # the odds that a defeat here kills

    def event(self) -> dict[str, Any]:
        """The fight as an outcome event."""
        c = self.combat
        return {"type": "combat", "monster": self.monster.id, "result": c.result,
                "rounds": [list(r) for r in c.rounds], "damage_dealt": c.damage_dealt,
                "damage_taken": c.damage_taken, "monster_hp_left": c.monster_hp,
                "days_lost": self.days_lost, "qi_lost": self.qi_lost,
                "slain": self.state.end_cause == "slain",
                "flee_chance": round(self.flee_chance, 4),
                "slain_chance": round(self.slain_chance, 4)}

    def facts(self, world: World) -> dict[str, Any]:
        """Narration facts shared by the fight kinds."""
        return {"monster": self.monster.name,
                "monster_realm": world.realm(self.monster.realm).name,
                "rounds": len(self.combat.rounds), "damage_dealt": self.combat.damage_dealt,
                "damage_taken": self.combat.damage_taken, "loot": self.loot,
                "qi_gain": self.qi_gain, "stones_lost": self.stones_lost}


def rank_gap(world: World, state: PlayerState, monster: Monster) -> int:
    """How many major realms the monster stands above the player (negative: below)."""
    return world.realm_index(monster.realm) - world.realm_index(state.realm)


def combat_flee_chance(world: World, state: PlayerState, monster: Monster) -> float:
    """Odds of getting away when badly hurt: worse against stronger foes."""
    per_rank = world.rules.stakes.combat_flee_per_rank
    chance = world.rules.flee_chance - rank_gap(world, state, monster) * per_rank
    return min(0.95, max(0.05, chance))


def slain_chance(world: World, state: PlayerState, monster: Monster) -> float:
    """Odds that a defeat by this monster kills: only foes of a higher realm kill outright."""
    gap = rank_gap(world, state, monster)
    return min(1.0, gap * world.rules.stakes.slain_chance_per_rank) if gap > 0 else 0.0


def fight_monster(
    world: World, state: PlayerState, monster: Monster, rng: random.Random
) -> FightResult:
    """Resolve a fight and apply it: loot and qi on victory; on defeat hp 0, lost stones and
    qi, a lasting injury and days lying wounded, or death against a foe of a higher realm."""
    rules = world.rules
    st = rules.stakes
    flee = combat_flee_chance(world, state, monster)
    deadly = slain_chance(world, state, monster)
    combat = resolve_combat(rules, state, monster, rng, flee)
    after = replace(state, hp=combat.player_hp)
    stones_lost = qi_lost = days_lost = 0
    if combat.result == "victory":
        for drop in monster.loot:
            if rng.random() < drop.chance:
                after = after.with_item(drop.item, rng.randint(drop.min, drop.max))
        stones = rng.randint(*monster.spirit_stones)
        after = replace(after, spirit_stones=after.spirit_stones + stones, kills=after.kills + 1)
        after = with_qi(world, after, monster.qi_reward)
    elif combat.result == "defeat":
        stones_lost = int(state.spirit_stones * rules.defeat_stone_loss)
        qi_lost = int(state.qi * st.defeat_qi_loss)
        days_lost = st.defeat_days
        after = replace(after, spirit_stones=after.spirit_stones - stones_lost,
                        qi=after.qi - qi_lost,
                        injury=min(st.max_injury, after.injury + st.defeat_injury))
        if rng.random() < deadly:
            after = end(after, "slain")
    loot_view = replace(after, hp=state.hp)  # the loot line lists winnings, not the wounds
    loot = describe_gains(world, state, loot_view) if combat.result == "victory" else "无"
    return FightResult(after, combat, monster, max(0, after.qi - state.qi), stones_lost, loot,
                       days_lost, qi_lost, flee, deadly)


def fight_summary(world: World, fr: FightResult) -> str:
    """One factual line about a fight."""
    c, name = fr.combat, fr.monster.name
    n = len(c.rounds)
    if c.result == "victory":
        return f"与{name}交战{n}回合，胜；受伤{c.damage_taken}，所得：{fr.loot}。"
    if c.result == "defeat":
        if fr.state.end_cause == "slain":
            return f"与{name}交战{n}回合，败，命丧其手。"
        return (f"与{name}交战{n}回合，败，重伤倒地（气血0），失落灵石{fr.stones_lost}、"
                f"修为{fr.qi_lost}，伤势{fr.state.injury}，昏迷{fr.days_lost}日。")
    if c.result == "fled":
        return f"与{name}交战{n}回合，不敌而逃；受伤{c.damage_taken}。"
    return f"与{name}交战{n}回合，不分胜负，各自退去；受伤{c.damage_taken}。"


def fight(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Fight a monster living here (``action.target``, or one chosen at random)."""
    loc = world.locations[state.location]
    if action.target is not None:
        if action.target not in world.monsters:
            raise ActionRefused(f"没有名为“{action.target}”的妖兽。", code="unknown_monster")
        if action.target not in loc.monsters:
            name = world.monsters[action.target].name
            raise ActionRefused(f"{loc.name}并无{name}出没。", code="monster_not_here")
        monster = world.monsters[action.target]
    elif not loc.monsters:
        raise ActionRefused(f"{loc.name}没有可以挑战的妖兽。", code="no_monsters")
    else:
        monster = world.monsters[rng.choice(loc.monsters)]
    fr = fight_monster(world, state, monster, rng)
    return finish(
        world, action="fight", before=state, after=fr.state,
        success=fr.combat.result == "victory", summary=fight_summary(world, fr),
        kind=f"fight_{fr.combat.result}", facts=fr.facts(world), events=[fr.event()],
        days=world.rules.days.fight + fr.days_lost,
    )
