"""Where a cultivator stands on the path: realm, stage, qi requirement and cap, stat bonuses."""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from shared.data import World
from shared.data.models import Realm, Stage, Technique
from shared.game.state import PlayerState


class Position(NamedTuple):
    """A realm index and a stage index."""

    realm: int
    stage: int


def realm_of(world: World, state: PlayerState) -> Realm:
    """The player's current major realm."""
    return world.realm(state.realm)


def stage_of(world: World, state: PlayerState) -> Stage:
    """The player's current stage."""
    return realm_of(world, state).stages[state.stage]


def title(world: World, realm_id: str, stage: int) -> str:
    """Realm and stage as one Chinese title, e.g. 练气三层, 筑基中期."""
    realm = world.realm(realm_id)
    return realm.name + realm.stages[stage].name


def title_of(world: World, state: PlayerState) -> str:
    """The player's realm title."""
    return title(world, state.realm, state.stage)


def qi_required(world: World, state: PlayerState) -> int:
    """Qi needed before the player may attempt the next breakthrough."""
    return stage_of(world, state).qi_required


def qi_cap(world: World, state: PlayerState) -> int:
    """Most qi the player can hold at this stage; more dissipates (瓶颈)."""
    return int(qi_required(world, state) * world.rules.qi_cap_ratio)


def with_qi(world: World, state: PlayerState, delta: int) -> PlayerState:
    """A copy with ``delta`` qi added, kept within [0, cap]."""
    qi = min(max(0, state.qi + delta), max(qi_cap(world, state), state.qi))
    return replace(state, qi=qi)


def next_position(world: World, state: PlayerState) -> Position | None:
    """Where a successful breakthrough leads; None at the very peak."""
    realm_idx = world.realm_index(state.realm)
    if state.stage + 1 < len(world.realms[realm_idx].stages):
        return Position(realm_idx, state.stage + 1)
    if realm_idx + 1 < len(world.realms):
        return Position(realm_idx + 1, 0)
    return None


def known_techniques(world: World, state: PlayerState) -> list[Technique]:
    """The player's techniques that exist in this world (stale ids are skipped)."""
    return [world.techniques[t] for t in state.techniques if t in world.techniques]


def main_technique(world: World, state: PlayerState) -> Technique | None:
    """The technique used to cultivate: the best cultivation bonus, affinity included."""
    best: Technique | None = None
    best_bonus = -1.0
    for tech in known_techniques(world, state):
        bonus = technique_cultivation_bonus(world, state, tech)
        if bonus > best_bonus:
            best, best_bonus = tech, bonus
    return best


def technique_cultivation_bonus(world: World, state: PlayerState, tech: Technique) -> float:
    """A technique's cultivation bonus, raised when its element matches the player's root."""
    bonus = tech.effects.cultivation_bonus
    if tech.element is not None and tech.element in world.roots[state.root].elements:
        bonus += world.rules.technique_affinity_bonus
    return bonus


def realm_allows(world: World, state: PlayerState, min_realm: str | None) -> bool:
    """True when the player's realm is at least ``min_realm``."""
    return world.realm_index(state.realm) >= world.realm_index(min_realm)


def learn_technique(world: World, state: PlayerState, tech_id: str) -> PlayerState:
    """A copy that knows ``tech_id`` and has its stat bonuses (no-op when already known)."""
    if tech_id in state.techniques:
        return state
    eff = world.techniques[tech_id].effects
    return replace(
        state,
        techniques=(*state.techniques, tech_id),
        max_hp=state.max_hp + eff.max_hp,
        hp=state.hp + eff.max_hp,
        attack=state.attack + eff.attack,
        defense=state.defense + eff.defense,
    )
