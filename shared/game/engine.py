"""``apply_action``: the one entry point of the rules (pure: world, state, action, seed)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from types import MappingProxyType

from shared.data import World
from shared.errors import ActionRefused
from shared.game.action import ACTION_TYPES, Action
from shared.game.combat import fight
from shared.game.cultivation import breakthrough, cultivate
from shared.game.exploration import explore
from shared.game.items import use_item
from shared.game.outcome import Outcome
from shared.game.rest import rest
from shared.game.rng import make_rng
from shared.game.state import PlayerState
from shared.game.talk import talk
from shared.game.travel import travel
from shared.game.world_actions import WORLD_HANDLERS  # gameworld

Handler = Callable[[World, PlayerState, Action, random.Random], Outcome]

HANDLERS: Mapping[str, Handler] = MappingProxyType({
    **WORLD_HANDLERS,  # gameworld: sects, economy, crafting, favour, quests
    "cultivate": cultivate,
    "breakthrough": breakthrough,
    "explore": explore,
    "travel": travel,
    "fight": fight,
    "use_item": use_item,
    "rest": rest,
    "talk": talk,
})


def apply_action(world: World, state: PlayerState, action: Action, seed: int) -> Outcome:
    """Decide what ``action`` does to ``state``; never mutates ``state``.

    Raises ``ActionRefused`` (422) with a specific code when the rules refuse it now.
    """
    handler = HANDLERS.get(action.type)
    if handler is None:
        raise ActionRefused(
            f"Unknown action {action.type!r}; choose one of {', '.join(ACTION_TYPES)}.",
            code="unknown_action",
        )
    if (state.location not in world.locations or state.root not in world.roots
            or state.realm not in world.realm_ranks
            or not 0 <= state.stage < len(world.realm(state.realm).stages)):
        raise ActionRefused("角色数据与当前世界不符（地点、灵根或境界已不存在）。",
                            code="stale_state")
    if not state.alive and action.type != "rest":
        raise ActionRefused("你重伤倒地（气血为0），只能调息（rest）。", code="dead")
    return handler(world, state, action, make_rng(seed))
