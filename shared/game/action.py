"""What the player asks for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ACTION_TYPES: tuple[str, ...] = (
    "cultivate", "breakthrough", "explore", "travel", "fight", "use_item", "rest", "talk",
    # --- gamecore (issue 9) ---
    "choose", "flee", "prepare", "ascend",
    # --- end gamecore ---
    # --- sects, economy, crafting, favour, quests (gameworld) ---
    "join_sect", "leave_sect", "sect_mission", "exchange", "promote",
    "buy", "sell", "craft", "learn", "give", "quest",
    # --- end gameworld ---
)
# Actions accepted while an event's choice is pending (everything else gets 409).
CHOICE_ACTIONS: frozenset[str] = frozenset({"choose", "flee"})


@dataclass(frozen=True)
class Action:
    """One request: ``target`` is a location (travel), monster (fight), NPC (talk) or the
    option id of a pending choice (choose); ``item`` an item id (use_item, or a breakthrough
    pill to take); ``text`` the player's words."""

    type: str
    target: str | None = None
    item: str | None = None
    text: str | None = None
    count: int | None = None  # gameworld: how many (buy, sell, exchange, craft, give)

    def to_dict(self) -> dict[str, Any]:
        """Only the fields that are set."""
        out: dict[str, Any] = {"type": self.type}
        for name in ("target", "item", "text", "count"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Action:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        return cls(
            type=str(data["type"]),
            target=data.get("target"),
            item=data.get("item"),
            text=data.get("text"),
            count=data.get("count"),
        )
