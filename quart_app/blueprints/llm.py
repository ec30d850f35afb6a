"""The raw LLM endpoint and the Celery task endpoints."""

from __future__ import annotations

from typing import Any

from quart import request
from quart_schema import validate_querystring, validate_request, validate_response

from quart_app.blueprints._edge import checked_json_body, respond, run
from quart_app.core import runtime
from shared.api import LLMPromptIn, LLMPromptQuery, LLMTextOut, TaskOut, TaskSubmittedOut
from shared.api.bodies import validate
from shared.usecases import llm as uc


@validate_querystring(LLMPromptQuery)
@validate_response(LLMTextOut, 200)
async def llm(query_args: LLMPromptQuery) -> Any:
    """``GET /api/llm?prompt=`` or ``POST /api/llm {"prompt"}``: text, model, usage, degraded."""
    prompt = query_args.prompt
    if request.method == "POST":
        prompt = (await _prompt_body()).prompt
    return respond(await run(uc.complete_prompt(runtime().ctx, prompt)), LLMTextOut)


@checked_json_body
async def _prompt_body() -> LLMPromptIn:
    # One route serves GET and POST, so the body is validated here rather than by decorator.
    return validate(LLMPromptIn, await request.get_json())


@checked_json_body
@validate_request(LLMPromptIn)
@validate_response(TaskSubmittedOut, 202)
async def submit_llm_task(data: LLMPromptIn) -> Any:
    """``POST /api/llm/tasks``: 202 with the task id and where to poll."""
    return respond(await run(uc.submit_prompt_task(runtime().ctx, data.prompt)),
                   TaskSubmittedOut)


@validate_response(TaskOut, 200)
async def get_llm_task(task_id: str) -> Any:
    """``GET /api/llm/tasks/<id>``: PENDING|STARTED|RETRY|SUCCESS|FAILURE; 404 if never issued."""
    return respond(await run(uc.task_status(runtime().ctx, task_id)), TaskOut)
