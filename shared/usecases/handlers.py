"""Perform effects: a blocking face and an awaiting face, a few lines each.

Each effect names its resource (``effect.resource``) and calls the method that serves it
(``effect.call(face)``), so a handler only holds one face per resource and hands it over. No
table maps effects to method names: the effect's ``call`` is the mapping, checked by mypy.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, TypeVar, cast

from shared.errors import NotReady
from shared.usecases.deltas import AsyncDeltaReader, DeltaReader
from shared.usecases.effects import AsyncTasks, Effect, Resource, SyncTasks

if TYPE_CHECKING:
    from shared.ai.narrator import AsyncNarrator, Narrator
    from shared.store import AsyncStore, SyncStore

R = TypeVar("R")

_MISSING = {
    Resource.TASKS: "LLM task endpoints need LLM_BACKEND=celery (Redis and a Celery worker).",
    Resource.STORE: "The store is not open.",
    Resource.NARRATOR: "The narrator is not configured.",
    Resource.LIMITS: "The limit counters are not open.",
}


class _Faces:
    """One face per resource; ``face(effect)`` is the one that serves it (503 when absent)."""

    def __init__(self, store: Any, narrator: Any, tasks: Any, deltas: Any,
                 limits: Any = None) -> None:
        self.store = store
        self.narrator = narrator
        self.tasks = tasks
        self.limits = limits
        self._faces = {
            Resource.STORE: store,
            Resource.NARRATOR: narrator,
            Resource.TASKS: tasks,
            Resource.DELTAS: deltas,
            Resource.LIMITS: limits,
        }

    def face(self, effect: Effect[Any]) -> Any:
        face = self._faces[effect.resource]
        if face is None:
            raise NotReady(_MISSING.get(effect.resource, f"{effect.resource.value} is not set."))
        return face


class SyncEffects(_Faces):
    """Performs effects with a ``SyncStore``, a ``Narrator`` and a ``TaskQueue``."""

    def __init__(self, store: SyncStore | None, narrator: Narrator | None,
                 tasks: SyncTasks | None = None, limits: Any = None) -> None:
        super().__init__(store, narrator, tasks, DeltaReader(), limits)

    def __call__(self, effect: Effect[R]) -> R:
        return cast(R, effect.call(self.face(effect)))


class AsyncEffects(_Faces):
    """Performs effects with an ``AsyncStore``, an async narrator and an ``AsyncTaskQueue``."""

    def __init__(self, store: AsyncStore | None, narrator: AsyncNarrator | None,
                 tasks: AsyncTasks | None = None, limits: Any = None) -> None:
        super().__init__(store, narrator, tasks, AsyncDeltaReader(), limits)

    async def __call__(self, effect: Effect[R]) -> R:
        result = effect.call(self.face(effect))
        # Coroutines are awaited; an opened async stream is a value on this face too.
        return cast(R, await result if inspect.isawaitable(result) else result)
