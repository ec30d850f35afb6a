"""Liveness and readiness, the same in both apps (the toggle script and nginx rely on them)."""

from __future__ import annotations

from shared import __version__
from shared.errors import NotReady
from shared.usecases import effects as fx
from shared.usecases.context import GameContext
from shared.usecases.effects import UseCase
from shared.usecases.replies import Reply


def healthz(ctx: GameContext, app_name: str, backend: str) -> Reply:
    """Liveness: no I/O, just who answers and how it narrates."""
    return Reply({
        "status": "ok",
        "app": app_name,
        "version": __version__,
        "llm_mode": "online" if ctx.settings.llm_enabled else "offline",
        "llm_backend": backend,
    })


def readyz(ctx: GameContext, app_name: str) -> UseCase[Reply]:
    """Readiness: the data is loaded and the store answers, else 503."""
    if ctx.world is None:
        raise NotReady("The world data is not loaded.")
    try:
        yield from fx.CheckReady()
    except Exception as exc:  # any store failure means not ready
        raise NotReady(f"The store does not answer: {type(exc).__name__}") from None
    if ctx.deferred_narration and not (yield from fx.PingTasks()):
        raise NotReady("Redis (the LLM task queue) does not answer.")
    return Reply({"status": "ready", "app": app_name})
