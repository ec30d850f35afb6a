"""Perform effects: one routing table, a blocking face and an awaiting face.

Each effect names which resource answers it (store, narrator, task queue), the method on the
sync face and on the async face, and its arguments. So the two handlers below are the same
five lines, one with ``await``, and a new effect is added in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.errors import NotReady
from shared.usecases import effects as fx


@dataclass(frozen=True, slots=True)
class _Route:
    resource: str
    sync_method: str
    async_method: str
    args: Callable[[Any], tuple[Any, ...]]
    kwargs: Callable[[Any], dict[str, Any]] = lambda e: {}
    awaitable: bool = True  # False: the async method returns an async iterator, not a coroutine


ROUTES: dict[type, _Route] = {
    fx.LoadPlayer: _Route("store", "get_player", "get_player", lambda e: (e.player_id,)),
    fx.LoadPlayerWithRecent: _Route(
        "store", "get_player_with_recent", "get_player_with_recent",
        lambda e: (e.player_id, e.seconds),
    ),
    fx.CreatePlayer: _Route(
        "store", "create_player", "create_player",
        lambda e: (e.player_id, e.token_hash, e.state, e.entry),
    ),
    fx.FindIdempotent: _Route(
        "store", "find_idempotent", "find_idempotent", lambda e: (e.player_id, e.key)
    ),
    fx.CommitAction: _Route(
        "store", "commit_action", "commit_action",
        lambda e: (e.player_id, e.expected_version, e.state, e.entry),
    ),
    fx.SaveNarration: _Route(
        "store", "set_narration", "set_narration",
        lambda e: (e.player_id, e.seq, e.text, e.degraded),
    ),
    fx.ListLog: _Route(
        "store", "list_log", "list_log", lambda e: (e.player_id, e.limit, e.before_seq)
    ),
    fx.CheckReady: _Route("store", "ping", "ping", lambda e: ()),
    fx.PingTasks: _Route("tasks", "ping", "aping", lambda e: ()),
    fx.Narrate: _Route(
        "narrator", "narrate", "narrate_async", lambda e: (e.request,),
        lambda e: {"user_id": e.user_id},
    ),
    fx.OpenNarrationStream: _Route(
        "narrator", "stream", "astream", lambda e: (e.request,),
        lambda e: {"user_id": e.user_id}, awaitable=False,
    ),
    fx.CompletePrompt: _Route("narrator", "complete", "complete_async", lambda e: (e.prompt,)),
    fx.QueueNarration: _Route(
        "tasks", "submit_narration", "asubmit_narration",
        lambda e: (e.player_id, e.seq, e.request), lambda e: {"user_id": e.player_id},
    ),
    fx.SubmitPromptTask: _Route(
        "tasks", "submit_complete", "asubmit_complete", lambda e: (e.prompt,)
    ),
    fx.GetTask: _Route("tasks", "status", "astatus", lambda e: (e.task_id,)),
    fx.AwaitTask: _Route(
        "tasks", "await_result", "await_result_async", lambda e: (e.task_id, e.timeout)
    ),
}


_MISSING = {
    "tasks": "LLM task endpoints need LLM_BACKEND=celery (Redis and a Celery worker).",
    "store": "The store is not open.",
}


class _Base:
    def __init__(self, store: Any, narrator: Any, tasks: Any = None) -> None:
        self.store = store
        self.narrator = narrator
        self.tasks = tasks

    def _target(self, effect: Any, method_attr: str) -> tuple[Callable[..., Any], _Route]:
        route = ROUTES[type(effect)]
        resource = getattr(self, route.resource)
        if resource is None:
            raise NotReady(_MISSING.get(route.resource, f"{route.resource} is not configured."))
        return getattr(resource, getattr(route, method_attr)), route


class SyncEffects(_Base):
    """Performs effects with a ``SyncStore``, ``Narrator.narrate`` and the task queue."""

    def __call__(self, effect: Any) -> Any:
        if type(effect) is fx.NextDelta:
            return next(effect.stream, None)
        call, route = self._target(effect, "sync_method")
        return call(*route.args(effect), **route.kwargs(effect))


class AsyncEffects(_Base):
    """Performs effects with an ``AsyncStore``, ``Narrator.narrate_async`` and the task queue."""

    async def __call__(self, effect: Any) -> Any:
        if type(effect) is fx.NextDelta:
            return await anext(effect.stream, None)
        call, route = self._target(effect, "async_method")
        result = call(*route.args(effect), **route.kwargs(effect))
        return await result if route.awaitable else result
