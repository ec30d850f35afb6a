"""The LLM tasks: ``llm.complete`` and ``llm.narrate``.

The work itself lives in two plain functions (:func:`complete_prompt`, :func:`narrate_entry`)
that take the worker's resources, so they can be read and tested without Celery; the task
wrappers add only Celery's part: one bounded retry when the upstream could not be reached.

By default a task never fails for upstream trouble: the narrator falls back to offline text
(``degraded: true``), as in the apps. With ``strict=True`` the offline fallback is off and the
upstream error ends the task in FAILURE with :class:`LLMCallFailed`, which names the client's
error and its message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery, Task

from shared.ai.errors import LLMConnectionError, LLMError
from shared.ai.narrator import Narration, Narrator
from shared.store import LogEntryNotFound
from shared.tasks.contract import COMPLETE_TASK, NARRATE_TASK, task_timings
from shared.tasks.errors import LLMCallFailed, NarrationTargetMissing
from shared.tasks.resources import WorkerResources
from shared.usecases import SyncEffects, drive_sync
from shared.usecases import effects as fx
from shared.usecases.actions import narrate_entry as narrate_entry_flow
from shared.usecases.context import GameContext

NarrationDict = dict[str, Any]


class UpstreamOnly(Narrator):
    """The narrator's blocking face with no offline fallback (strict tasks): one client call,
    and any ``LLMError`` propagates, so the task can retry or fail naming it."""

    def narrate(
        self, req: Any, user_id: str | None = None, *, offline_reason: str | None = None
    ) -> Narration:
        """Prose for ``req`` from the LLM, or the client's error."""
        return self._call(self.prompts.messages(req), user_id)

    def complete(
        self, prompt: str, user_id: str | None = None, *, offline_reason: str | None = None
    ) -> Narration:
        """The LLM's answer to a raw prompt, or the client's error."""
        return self._call(self.prompts.raw_messages(prompt), user_id)

    def _call(self, messages: list[dict[str, str]], user_id: str | None) -> Narration:
        if self.client is None:
            raise LLMCallFailed("no DeepSeek client is configured")
        result = self.client.chat(messages, user_id=user_id)
        return Narration(result.text, False, result.model, dict(result.usage), None)


def _effects(res: WorkerResources, strict: bool) -> SyncEffects:
    """The worker's effect handler: the store, the narrator (strict: no fallback), and the
    limit counters (an NPC's summary refresh is charged to the player's budget)."""
    narrator = res.narrator
    if strict:
        narrator = UpstreamOnly(narrator.prompts, res.settings, res.client, "celery")
    return SyncEffects(res.store, narrator, limits=res.counters)


def complete_prompt(
    res: WorkerResources, prompt: str, user_id: str | None = None, *, strict: bool = False
) -> NarrationDict:
    """``/api/llm``'s work: a raw prompt in, a Narration dict out (the apps' effect)."""
    told = drive_sync(iter(fx.CompletePrompt(prompt, user_id)), _effects(res, strict))
    return told.to_dict()


def narrate_entry(
    res: WorkerResources,
    player_id: str,
    seq: int,
    request: dict[str, Any],
    user_id: str | None = None,
    *,
    strict: bool = False,
) -> NarrationDict:
    """Narrate log entry ``seq`` of ``player_id`` and record the prose on it.

    The apps' use case (``shared.usecases.actions.narrate_entry``), driven on the worker's
    resources. Idempotent: when the entry already has prose (a redelivered task, or a second
    submit for the same turn), that prose is returned and the LLM is not called again.
    """
    ctx = GameContext(res.world, res.settings)  # a talk remembers (shared.usecases.talk_memory)
    flow = narrate_entry_flow(player_id, seq, request, user_id, ctx=ctx)
    try:
        told, replayed = drive_sync(flow, _effects(res, strict))
    except LogEntryNotFound:
        raise NarrationTargetMissing(f"player {player_id!r} has no log entry {seq}") from None
    if replayed:
        return {**told.to_dict(), "model": None, "usage": None, "reason": None,
                "replayed": True}
    return {**told.to_dict(), "replayed": False}


def register_tasks(app: Celery, res: WorkerResources) -> None:
    """Register ``llm.complete`` and ``llm.narrate`` on ``app``, running on ``res``."""
    t = task_timings(res.settings)

    def run(task: Task[Any, Any], work: Callable[[], NarrationDict]) -> NarrationDict:
        try:
            return work()
        except LLMConnectionError as exc:
            # The client's own retries are spent and the upstream was never reached, so
            # nothing was billed: one later try rides out a short outage.
            if task.request.retries < t.max_retries:
                raise task.retry(
                    exc=LLMCallFailed.wrap(exc), countdown=t.retry_delay,
                    max_retries=t.max_retries,
                ) from exc
            raise LLMCallFailed.wrap(exc) from None
        except LLMError as exc:  # only strict tasks see these: the narrator degrades instead
            raise LLMCallFailed.wrap(exc) from None

    @app.task(name=COMPLETE_TASK, bind=True, shared=False)
    def complete(
        self: Task[Any, Any], prompt: str, user_id: str | None = None, strict: bool = False
    ) -> NarrationDict:
        return run(self, lambda: complete_prompt(res, prompt, user_id, strict=strict))

    @app.task(name=NARRATE_TASK, bind=True, shared=False)
    def narrate(
        self: Task[Any, Any],
        player_id: str,
        seq: int,
        narration_request: dict[str, Any],
        user_id: str | None = None,
        strict: bool = False,
    ) -> NarrationDict:
        return run(
            self,
            lambda: narrate_entry(res, player_id, seq, narration_request, user_id, strict=strict),
        )
