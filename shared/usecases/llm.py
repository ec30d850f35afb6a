"""Use cases of the raw LLM endpoints: ``/api/llm`` and ``/api/llm/tasks``."""

from __future__ import annotations

from typing import Any

from shared.errors import NotFound, ValidationFailed
from shared.game import offline_raw_text
from shared.textclean import strip_control
from shared.usecases import effects as fx
from shared.usecases.context import GameContext
from shared.usecases.effects import UseCase
from shared.usecases.replies import Reply

Flow = UseCase[Reply]


def _clean_prompt(prompt: str | None) -> str:
    cleaned = strip_control(prompt or "").strip()
    if not cleaned:
        raise ValidationFailed("prompt: Field required (1-2000 visible characters)")
    return cleaned


def complete_prompt(ctx: GameContext, prompt: str | None) -> Flow:
    """Prompt in; text, model, usage and ``degraded`` out (via the worker in Celery mode)."""
    text = _clean_prompt(prompt)
    if ctx.deferred_narration:
        task_id = yield from fx.SubmitPromptTask(text)
        done = yield from fx.AwaitTask(task_id, ctx.settings.llm_total_timeout + 10)
        result = done.get("result")
        if result is None:
            # The worker failed for good: the offline narrator answers, as it does in-process.
            result = {"text": offline_raw_text(ctx.world, text), "degraded": True}
        return Reply(_text_body(result))
    told = yield from fx.CompletePrompt(text)
    return Reply(_text_body(told.to_dict()))


def _text_body(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": str(result.get("text", "")),
        "model": result.get("model"),
        "usage": result.get("usage"),
        "degraded": bool(result.get("degraded", True)),
    }


def submit_prompt_task(ctx: GameContext, prompt: str | None) -> Flow:
    """Queue a prompt for the worker; 202 with where to poll."""
    task_id = yield from fx.SubmitPromptTask(_clean_prompt(prompt))
    url = f"/api/llm/tasks/{task_id}"
    return Reply({"task_id": task_id, "status_url": url}, status=202, headers={"Location": url})


def task_status(ctx: GameContext, task_id: str) -> Flow:
    """A task's state; 404 for ids never issued (Celery itself would say PENDING)."""
    status = yield from fx.GetTask(task_id)
    if status is None:
        raise NotFound(f"No task with id {task_id!r}.", code="task_not_found")
    return Reply(status)
