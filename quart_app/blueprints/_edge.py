"""Request and response plumbing for Quart views (the mirror of legacy_flask's ``_edge``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from pydantic import BaseModel
from quart import request
from werkzeug.datastructures import Headers

from quart_app.core import runtime
from shared.api import parse_json_body
from shared.api.bodies import validate_response_model
from shared.usecases import AsyncEffects, Reply, drive_async
from shared.usecases.effects import UseCase

R = TypeVar("R")


def checked_json_body(view: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Reject a non-JSON, malformed or oversized body with the shared errors before
    quart-schema's ``validate_request`` reads it (so both apps word these alike)."""

    @wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.method in ("POST", "PUT", "PATCH"):
            raw = await request.get_data(cache=True)
            parse_json_body(raw, request.content_type, runtime().settings.max_body_bytes)
        return await view(*args, **kwargs)

    return wrapper


async def run(flow: UseCase[R]) -> R:
    """Drive a use case with the app's awaiting effect handler."""
    effects: AsyncEffects = runtime().effects
    return await drive_async(flow, effects)


def respond(reply: Reply, model: type[BaseModel]) -> tuple[Any, int, Headers]:
    """``(model instance, status, headers)`` for quart-schema's ``validate_response``.

    The body is checked here with a cached adapter, so quart-schema finds an instance of
    the route's model and does not build a new adapter per response; headers go as a
    ``Headers`` object, which it passes through (a plain dict would cost it a pydantic
    schema build on every response).
    """
    return validate_response_model(model, reply.body), reply.status, Headers(reply.headers)
