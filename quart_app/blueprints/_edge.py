"""Request and response plumbing for Quart views (the mirror of legacy_flask's ``_edge``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from quart import request

from quart_app.core import runtime
from shared.api import parse_json_body
from shared.usecases import Reply, drive_async

ReplyValue = tuple[dict[str, Any], int, dict[str, str]]


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


async def run(flow: Any) -> Reply:
    """Drive a use case with the app's awaiting effect handler."""
    return await drive_async(flow, runtime().effects)


def respond(reply: Reply) -> ReplyValue:
    """The ``(body, status, headers)`` that quart-schema's ``validate_response`` checks."""
    return reply.body, reply.status, reply.headers
