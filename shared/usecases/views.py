"""JSON shapes of players, outcomes and log entries, shared by every use case."""

from __future__ import annotations

from typing import Any

from shared.game.state import PRIVATE_FIELDS
from shared.store import LogEntry

# Kept inside the stored outcome so an idempotent replay can answer with the first result.
_PRIVATE_OUTCOME_KEYS = ("state", "version")


def player_view(player_id: str, state: dict[str, Any]) -> dict[str, Any]:
    """The player's own view of their cultivator (server-only fields such as the fate secret
    are left out)."""
    return {"id": player_id, **{k: v for k, v in state.items() if k not in PRIVATE_FIELDS}}


def public_outcome(stored: dict[str, Any]) -> dict[str, Any]:
    """An outcome as clients see it (without the stored state snapshot)."""
    return {k: v for k, v in stored.items() if k not in _PRIVATE_OUTCOME_KEYS}


def narration_view(text: str | None, degraded: bool | None) -> Any:
    """``{"text", "degraded"}`` or None when there is no prose yet.

    The model name is left out on purpose: a replay must answer with the same bytes, and the
    log keeps only the text and whether it was degraded.
    """
    if text is None:
        return None
    return {"text": text, "degraded": bool(degraded)}


def log_entry_view(entry: LogEntry) -> dict[str, Any]:
    """One line of history."""
    outcome = public_outcome(entry.outcome)
    created = entry.created_at
    return {
        "seq": entry.seq,
        "action": entry.action,
        "summary": str(outcome.get("summary", "")),
        "outcome": outcome,
        "narration": entry.narration,
        "degraded": entry.degraded,
        "created_at": created.isoformat() if hasattr(created, "isoformat") else str(created),
    }
