"""The worker's long-lived objects, built on first use.

Nothing is built when the worker module is imported: a prefork child builds its own after the
fork (an HTTP connection pool must not be shared across a fork), and a thread-pool worker
builds each object once, under a lock, for all its threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from shared.config import Settings

if TYPE_CHECKING:
    from shared.ai.deepseek_client import DeepSeekClient
    from shared.ai.narrator import Narrator
    from shared.data import World
    from shared.store import SyncStore

T = TypeVar("T")


class WorkerResources:
    """One DeepSeek client, the world, the narrator and the store for a worker process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()  # the narrator is built from the client and world
        self._built: dict[str, Any] = {}

    def _get(self, name: str, build: Callable[[], T]) -> T:
        value = self._built.get(name)
        if value is None:
            with self._lock:
                value = self._built.get(name)
                if value is None:
                    value = build()
                    self._built[name] = value
        return value

    @property
    def client(self) -> DeepSeekClient:
        """The process's DeepSeek client (sync face; thread-safe)."""
        from shared.ai.deepseek_client import DeepSeekClient

        return self._get("client", lambda: DeepSeekClient(self.settings))

    @property
    def world(self) -> World:
        """The world from ``settings.data_dir``."""
        from shared.data import load_world

        return self._get("world", lambda: load_world(self.settings.data_dir))

    @property
    def narrator(self) -> Narrator:
        """The narrator on the shared client; it degrades to offline text on upstream trouble."""
        from shared.ai.narrator import Narrator
        from shared.game.narration import PromptBook

        return self._get(
            "narrator",
            lambda: Narrator(PromptBook(self.world), self.settings, self.client, "celery"),
        )

    @property
    def store(self) -> SyncStore:
        """The game store (the apps own the schema; the worker only writes narrations)."""
        from shared.store import open_store

        return self._get("store", lambda: open_store(self.settings.database_url))

    @property
    def counters(self) -> Any:
        """The limit counters (Redis or the game store), as the apps count them: a worker's
        own LLM calls (an NPC's summary refresh) are charged to the same budgets."""
        from shared.limits.counters import open_counters

        return self._get("counters", lambda: open_counters(self.settings, self.store))

    def warm(self) -> None:
        """Load the world and import what the tasks use, before the first task arrives.

        Safe before a fork: nothing here opens a connection (the client and the store are
        still built on first use, in the process that runs the task). Bad data fails here,
        so a worker with a broken world stops at start-up, as the apps do.
        """
        import shared.ai.narrator
        import shared.game.narration
        import shared.store  # noqa: F401

        _ = self.world

    def close(self) -> None:
        """Close what was built (at worker shutdown); safe to call twice."""
        with self._lock:
            built, self._built = self._built, {}
        for name in ("counters", "client", "store"):
            obj = built.get(name)
            if obj is not None:
                obj.close()
