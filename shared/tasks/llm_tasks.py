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
from shared.ai.narrator import Narration
from shared.tasks.celery_app import COMPLETE_TASK, NARRATE_TASK, task_timings
from shared.tasks.errors import LLMCallFailed, NarrationTargetMissing
from shared.tasks.resources import WorkerResources

NarrationDict = dict[str, Any]


def _upstream_only(res: WorkerResources, messages: Any, user_id: str | None) -> NarrationDict:
    """One client call with no offline fallback: any LLMError propagates."""
    result = res.client.chat(messages, user_id=user_id)
    return Narration(result.text, False, result.model, dict(result.usage), None).to_dict()


def complete_prompt(
    res: WorkerResources, prompt: str, user_id: str | None = None, *, strict: bool = False
) -> NarrationDict:
    """``/api/llm``'s work: a raw prompt in, a Narration dict out."""
    narrator = res.narrator
    if strict:
        return _upstream_only(res, narrator.prompts.raw_messages(prompt), user_id)
    return narrator.complete(prompt).to_dict()


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

    Idempotent: when the entry already has prose (a redelivered task, or a second submit for
    the same turn), that prose is returned and the LLM is not called again.
    """
    from shared.game import NarrationRequest

    store = res.store
    entry = next(iter(store.list_log(player_id, 1, seq + 1)), None)
    if entry is None or entry.seq != seq:
        raise NarrationTargetMissing(f"player {player_id!r} has no log entry {seq}")
    if entry.narration is not None:
        return {
            "text": entry.narration,
            "degraded": bool(entry.degraded),
            "model": None,
            "usage": None,
            "reason": None,
            "replayed": True,
        }
    req = NarrationRequest.from_dict(request)
    narrator = res.narrator
    if strict:
        told = _upstream_only(res, narrator.prompts.messages(req), user_id)
    else:
        told = narrator.narrate(req, user_id=user_id).to_dict()
    store.set_narration(player_id, seq, told["text"], bool(told["degraded"]))
    return {**told, "replayed": False}


def register_tasks(app: Celery, res: WorkerResources) -> None:
    """Register ``llm.complete`` and ``llm.narrate`` on ``app``, running on ``res``."""
    t = task_timings(res.settings)

    def run(task: Task, work: Callable[[], NarrationDict]) -> NarrationDict:
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
        self: Task, prompt: str, user_id: str | None = None, strict: bool = False
    ) -> NarrationDict:
        return run(self, lambda: complete_prompt(res, prompt, user_id, strict=strict))

    @app.task(name=NARRATE_TASK, bind=True, shared=False)
    def narrate(
        self: Task,
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
