"""调息: recovering hp; the only action a downed (0 hp) cultivator can take."""

from __future__ import annotations

import math
import random
from dataclasses import replace

from shared.data import World
from shared.errors import ActionRefused
from shared.game.action import Action
from shared.game.finish import finish
from shared.game.outcome import Outcome
from shared.game.state import PlayerState


def rest_heal(world: World, state: PlayerState) -> int:
    """Hp one rest restores here: a share of max hp, less in dangerous places."""
    rules = world.rules
    danger = world.locations[state.location].danger
    ratio = rules.rest_heal_ratio * max(0.2, 1.0 - danger * rules.rest_danger_penalty)
    return max(1, math.ceil(state.max_hp * ratio))


def rest(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Rest: recover hp, heal one level of lasting injury and calm one level of 心魔 (refused
    when already whole)."""
    if state.hp >= state.max_hp and not state.injury and not state.heart_demon:
        raise ActionRefused("你气血充盈，无需调息。", code="hp_full")
    hp = min(state.max_hp, state.hp + rest_heal(world, state))
    after = replace(state, hp=hp, injury=max(0, state.injury - 1),
                    heart_demon=max(0, state.heart_demon - 1))
    days = world.rules.days.rest
    gained = hp - state.hp
    summary = f"调息{days}日，气血+{gained}（{hp}/{state.max_hp}）。"
    if after.injury < state.injury:
        summary += f"伤势渐愈（{after.injury}）。"
    if after.heart_demon < state.heart_demon:
        summary += f"心魔稍平（{after.heart_demon}）。"
    return finish(
        world, action="rest", before=state, after=after, success=True, summary=summary,
        kind="rest", days=days, facts={"hp_gain": gained, "days": days},
        events=[{"type": "rest", "hp_gain": gained}],
    )
