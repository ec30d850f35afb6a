"""The rules: pure functions of (world, state, action, seed). No web, database, clock or
environment; randomness only from a ``random.Random`` seeded per action."""

from shared.game.action import ACTION_TYPES, Action
from shared.game.creation import new_player
from shared.game.cultivation import breakthrough_chance, cultivation_rate
from shared.game.engine import apply_action
from shared.game.exploration import eligible_events
from shared.game.narration import (
    PromptBook,
    build_messages,
    offline_raw_text,
    offline_text,
    raw_prompt_messages,
)
from shared.game.outcome import Change, NarrationRequest, Outcome
from shared.game.rng import action_seed, fate_seed, next_seed
from shared.game.state import PlayerState

__all__ = [
    "ACTION_TYPES",
    "Action",
    "Change",
    "NarrationRequest",
    "Outcome",
    "PlayerState",
    "PromptBook",
    "action_seed",
    "apply_action",
    "breakthrough_chance",
    "build_messages",
    "cultivation_rate",
    "eligible_events",
    "fate_seed",
    "new_player",
    "next_seed",
    "offline_raw_text",
    "offline_text",
    "raw_prompt_messages",
]
