"""The gameworld actions (sects, economy, crafting, favour, quests) by type, for the engine."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from types import MappingProxyType

from shared.data import World
from shared.game.action import Action
from shared.game.crafting import craft, learn
from shared.game.favour import give
from shared.game.outcome import Outcome
from shared.game.quests import quest
from shared.game.sects import exchange, join_sect, leave_sect, promote, sect_mission
from shared.game.shop import buy, sell
from shared.game.state import PlayerState

WORLD_HANDLERS: Mapping[
    str, Callable[[World, PlayerState, Action, random.Random], Outcome]
] = MappingProxyType({
    "join_sect": join_sect,
    "leave_sect": leave_sect,
    "sect_mission": sect_mission,
    "exchange": exchange,
    "promote": promote,
    "buy": buy,
    "sell": sell,
    "craft": craft,
    "learn": learn,
    "give": give,
    "quest": quest,
})
