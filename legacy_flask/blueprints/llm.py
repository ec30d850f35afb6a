"""The raw LLM endpoint and the Celery task endpoints."""

from __future__ import annotations

from flask import Response, request

from legacy_flask.blueprints._edge import json_body, query, respond, run
from legacy_flask.core import runtime
from shared.api import LLMPromptIn, LLMPromptQuery, LLMTextOut, TaskOut, TaskSubmittedOut
from shared.api.http import bearer_token
from shared.usecases import llm as uc


def llm() -> Response:
    """``GET /api/llm?prompt=``: text, model, usage, degraded."""
    prompt = query(LLMPromptQuery).prompt
    token = bearer_token(request.headers)
    return respond(run(uc.complete_prompt_as(runtime().ctx, token, prompt)), LLMTextOut)


def llm_post() -> Response:
    """``POST /api/llm {"prompt"}``: text, model, usage, degraded (the query string is not
    read)."""
    prompt = json_body(LLMPromptIn).prompt
    token = bearer_token(request.headers)
    return respond(run(uc.complete_prompt_as(runtime().ctx, token, prompt)), LLMTextOut)


def submit_llm_task() -> Response:
    """``POST /api/llm/tasks``: 202 with the task id and where to poll."""
    prompt = json_body(LLMPromptIn).prompt
    token = bearer_token(request.headers)
    return respond(run(uc.submit_prompt_task_as(runtime().ctx, token, prompt)),
                   TaskSubmittedOut)


def get_llm_task(task_id: str) -> Response:
    """``GET /api/llm/tasks/<id>``: PENDING|STARTED|RETRY|SUCCESS|FAILURE; 404 if never issued."""
    return respond(run(uc.task_status(runtime().ctx, task_id)), TaskOut)
