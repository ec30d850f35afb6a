"""``apply_action``: the one entry point of the rules (pure: world, state, action, seed)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from types import MappingProxyType

from shared.data import World
from shared.errors import ActionRefused, ChoicePending
from shared.game.action import ACTION_TYPES, CHOICE_ACTIONS, Action
from shared.game.choices import choice_prompt, choose, flee
from shared.game.combat import fight
from shared.game.cultivation import ascend, breakthrough, cultivate, prepare
from shared.game.exploration import explore
from shared.game.items import use_item
from shared.game.lifespan import end_line
from shared.game.outcome import Outcome
from shared.game.rest import rest
from shared.game.rng import make_rng
from shared.game.state import PlayerState
from shared.game.talk import talk
from shared.game.travel import travel
from shared.game.world_actions import WORLD_HANDLERS  # gameworld

Handler = Callable[[World, PlayerState, Action, random.Random], Outcome]

HANDLERS: Mapping[str, Handler] = MappingProxyType({
    "cultivate": cultivate,
    "breakthrough": breakthrough,
    "explore": explore,
    "travel": travel,
    "fight": fight,
    "use_item": use_item,
    "rest": rest,
    "talk": talk,
    # --- gamecore (issue 9) ---
    "choose": choose,
    "flee": flee,
    "prepare": prepare,
    "ascend": ascend,
    # --- end gamecore ---
    **WORLD_HANDLERS,  # gameworld: sects, economy, crafting, favour, quests
})


def apply_action(world: World, state: PlayerState, action: Action, seed: int) -> Outcome:
    """Decide what ``action`` does to ``state``; never mutates ``state``.

    Raises ``ActionRefused`` (422) with a specific code when the rules refuse it now (``ended``
    once the cultivator's story is over), and ``ChoicePending`` (409) for anything but
    ``choose``/``flee`` while an event's choice waits.
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
    if state.ended:
        raise ActionRefused(f"此人道途已尽：{end_line(world, state)}请另起炉灶，重开仙途。",
                            code="ended")
    # A choice whose event left the data no longer blocks anything (choose says so).
    waiting = state.pending_choice is not None and state.pending_choice in world.events
    if waiting and action.type not in CHOICE_ACTIONS:
        raise ChoicePending(choice_prompt(world, state))
    answering = waiting and action.type in CHOICE_ACTIONS
    if not state.alive and action.type != "rest" and not answering:
        raise ActionRefused("你重伤倒地（气血为0），只能调息（rest）。", code="dead")
    return handler(world, state, action, make_rng(seed))
