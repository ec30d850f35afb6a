"""What an action did: the changes, the events, a factual summary and a narration request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.game.state import PlayerState


@dataclass(frozen=True)
class Change:
    """One field that moved: ``inventory.<id>`` for items, numbers for numbers."""

    field: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        """``{"field", "before", "after"}``."""
        return {"field": self.field, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class NarrationRequest:
    """What the narrator is asked to tell: a template ``kind``, the decided ``facts``, and the
    player's own words (talk), which the LLM sees but which decide nothing."""

    kind: str
    facts: Mapping[str, Any] = field(default_factory=dict)
    player_text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, stored with the log entry and sent to the Celery worker."""
        return {"kind": self.kind, "facts": dict(self.facts), "player_text": self.player_text}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NarrationRequest:
        """Inverse of :meth:`to_dict`."""
        return cls(
            kind=str(data["kind"]),
            facts=dict(data.get("facts") or {}),
            player_text=data.get("player_text"),
        )


@dataclass(frozen=True)
class Outcome:
    """The decided result of one action. ``state`` is the player after it."""

    action: str
    success: bool
    state: PlayerState
    changes: tuple[Change, ...]
    events: tuple[dict[str, Any], ...]
    summary: str
    narration: NarrationRequest

    def to_dict(self) -> dict[str, Any]:
        """JSON without the state (the API sends the state separately)."""
        return {
            "action": self.action,
            "success": self.success,
            "changes": [c.to_dict() for c in self.changes],
            "events": [dict(e) for e in self.events],
            "summary": self.summary,
            "narration": self.narration.to_dict(),
        }
