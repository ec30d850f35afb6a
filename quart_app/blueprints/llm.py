"""The raw LLM endpoint and the Celery task endpoints."""

from __future__ import annotations

from typing import Any

from quart import request
from quart_schema import validate_response

from quart_app.blueprints._edge import json_body, query, respond, run
from quart_app.core import runtime
from shared.api import LLMPromptIn, LLMPromptQuery, LLMTextOut, TaskOut, TaskSubmittedOut
from shared.api.http import bearer_token
from shared.usecases import llm as uc


@query(LLMPromptQuery)
@validate_response(LLMTextOut, 200)
async def llm(query_args: LLMPromptQuery) -> Any:
    """``GET /api/llm?prompt=``: text, model, usage, degraded."""
    token = bearer_token(request.headers)
    return respond(await run(uc.complete_prompt_as(runtime().ctx, token, query_args.prompt)),
                   LLMTextOut)


@json_body(LLMPromptIn)
@validate_response(LLMTextOut, 200)
async def llm_post(data: LLMPromptIn) -> Any:
    """``POST /api/llm {"prompt"}``: text, model, usage, degraded (the query string is not
    read)."""
    token = bearer_token(request.headers)
    return respond(await run(uc.complete_prompt_as(runtime().ctx, token, data.prompt)),
                   LLMTextOut)


@json_body(LLMPromptIn)
@validate_response(TaskSubmittedOut, 202)
async def submit_llm_task(data: LLMPromptIn) -> Any:
    """``POST /api/llm/tasks``: 202 with the task id and where to poll."""
    token = bearer_token(request.headers)
    return respond(await run(uc.submit_prompt_task_as(runtime().ctx, token, data.prompt)),
                   TaskSubmittedOut)


@validate_response(TaskOut, 200)
async def get_llm_task(task_id: str) -> Any:
    """``GET /api/llm/tasks/<id>``: PENDING|STARTED|RETRY|SUCCESS|FAILURE; 404 if never issued."""
    return respond(await run(uc.task_status(runtime().ctx, task_id)), TaskOut)
