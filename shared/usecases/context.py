"""What every use case reads but never changes: the world and the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.config import Settings


@dataclass(frozen=True, slots=True)
class GameContext:
    """Immutable per-app context handed to use cases.

    ``deferred_narration`` is true in Celery mode: actions return their outcome at once and the
    worker writes the prose.
    """

    world: Any  # shared.data.World
    settings: Settings
    deferred_narration: bool = False
