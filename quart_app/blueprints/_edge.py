"""Request and response plumbing for Quart views (the mirror of legacy_flask's ``_edge``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from pydantic import BaseModel
from quart import request
from quart_schema.validation import (
    QUART_SCHEMA_QUERYSTRING_ATTRIBUTE,
    QUART_SCHEMA_REQUEST_ATTRIBUTE,
    DataSource,
)
from werkzeug.datastructures import Headers

from quart_app.core import runtime
from shared.api import parse_json_body, validate
from shared.api.bodies import validate_response_model
from shared.api.edge import query_args
from shared.usecases import AsyncEffects, Reply, drive_async
from shared.usecases.effects import UseCase

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


View = Callable[..., Awaitable[Any]]


async def parsed_body(model: type[M]) -> M:
    """The JSON body parsed by the shared parser and validated with the shared model: the
    same bytes give the same answer as in Flask (quart's own decoding would differ on a BOM,
    UTF-16 or deep nesting)."""
    raw = await request.get_data(cache=True, as_text=False)  # Quart refuses > MAX (413)
    assert isinstance(raw, bytes)
    data = parse_json_body(raw, request.content_type, runtime().settings.max_body_bytes)
    return validate(model, data)


def json_body(model: type[M]) -> Callable[[View], View]:
    """Pass the validated body as ``data=`` and document it in ``/openapi.json`` (in place of
    quart-schema's ``validate_request``, which decodes the body a second time)."""

    def decorator(view: View) -> View:
        @wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return await view(*args, data=await parsed_body(model), **kwargs)

        setattr(wrapper, QUART_SCHEMA_REQUEST_ATTRIBUTE, (model, DataSource.JSON))
        return wrapper

    return decorator


def query(model: type[M]) -> Callable[[View], View]:
    """Pass the validated query string as ``query_args=`` (the shared conversion, as in
    Flask) and document it in ``/openapi.json``."""

    def decorator(view: View) -> View:
        @wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            args_model = validate(model, query_args(request.args.items(multi=True)))
            return await view(*args, query_args=args_model, **kwargs)

        setattr(wrapper, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE, model)
        return wrapper

    return decorator


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
