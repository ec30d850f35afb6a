"""Use cases of the raw LLM endpoints: ``/api/llm`` and ``/api/llm/tasks``."""

from __future__ import annotations

from typing import Any

from shared.api.models import has_visible
from shared.errors import NotFound, RateLimited, ValidationFailed
from shared.game import offline_raw_text
from shared.limits import flows as budget
from shared.textclean import strip_control
from shared.usecases import effects as fx
from shared.usecases.context import GameContext
from shared.usecases.effects import UseCase
from shared.usecases.replies import Reply

Flow = UseCase[Reply]


def _clean_prompt(prompt: str | None) -> str:
    cleaned = strip_control(prompt or "").strip()
    if not has_visible(cleaned):
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
        "reason": result.get("reason"),
    }


def complete_prompt_as(ctx: GameContext, token: str | None, prompt: str | None) -> Flow:
    """``/api/llm`` for the player whose bearer token came: 401/404 before any call, the
    player's LLM call rate (429) and the token budgets (offline when spent) apply."""
    player_id = yield from budget.llm_caller(ctx, token)
    text = _clean_prompt(prompt)
    if ctx.deferred_narration:
        grant = yield from budget.reserve_tokens(ctx, player_id)
        if grant.offline_reason is not None:
            told = yield from fx.CompletePrompt(text, user_id=player_id,
                                                offline_reason=grant.offline_reason)
            return Reply(_text_body(told.to_dict()))
        task_id = yield from fx.SubmitPromptTask(text)
        done = yield from fx.AwaitTask(task_id, ctx.settings.llm_total_timeout + 10)
        result = done.get("result")
        if result is None:
            result = {"text": offline_raw_text(ctx.world, text), "degraded": True}
        yield from budget.settle_tokens(grant, budget.usage_tokens(result.get("usage")))
        return Reply(_text_body(result))
    told = yield from budget.complete(ctx, text, player_id)
    return Reply(_text_body(told.to_dict()))


def submit_prompt_task_as(ctx: GameContext, token: str | None, prompt: str | None) -> Flow:
    """``POST /api/llm/tasks`` for the player whose bearer token came; a spent budget is a
    429 (the worker cannot be told to stay offline), and the reservation stays charged."""
    player_id = yield from budget.llm_caller(ctx, token)
    text = _clean_prompt(prompt)
    grant = yield from budget.reserve_tokens(ctx, player_id)
    if grant.offline_reason is not None:
        raise RateLimited("叙述额度已用完，请稍后再试。", code="llm_budget_spent")
    task_id = yield from fx.SubmitPromptTask(text)
    url = f"/api/llm/tasks/{task_id}"
    return Reply({"task_id": task_id, "status_url": url}, status=202, headers={"Location": url})


def submit_prompt_task(ctx: GameContext, prompt: str | None) -> Flow:
    """Queue a prompt for the worker; 202 with where to poll."""
    task_id = yield from fx.SubmitPromptTask(_clean_prompt(prompt))
    url = f"/api/llm/tasks/{task_id}"
    return Reply({"task_id": task_id, "status_url": url}, status=202, headers={"Location": url})


def task_status(ctx: GameContext, task_id: str) -> Flow:
    """A task's state; 404 for ids never issued (Celery itself would say PENDING)."""
    status = yield from fx.GetTask(task_id)
    if status is None:
        raise NotFound("找不到这个任务。", code="task_not_found")
    return Reply(status)
