"""Request and response plumbing for Flask views (the mirror of quart_app's ``_edge``)."""

from __future__ import annotations

from typing import TypeVar

from flask import Response, request
from pydantic import BaseModel

from legacy_flask.core import runtime
from shared.api import parse_json_body, validate
from shared.api.bodies import dump_response, read_capped
from shared.api.edge import query_args
from shared.api.http import json_text
from shared.usecases import Reply, SyncEffects, drive_sync
from shared.usecases.effects import UseCase

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


def raw_body(max_bytes: int) -> bytes:
    """The request body, or 413 when it is over ``max_bytes``.

    With a Content-Length werkzeug refuses an oversized body itself. A chunked body has
    none, and werkzeug would silently cut it at MAX_CONTENT_LENGTH, so it is read here from
    the server's terminated stream to its end (gunicorn then finds the connection clean)."""
    if request.content_length is None and request.environ.get("wsgi.input_terminated"):
        return read_capped(request.environ["wsgi.input"].read, max_bytes)
    return request.get_data(cache=True)


def json_body(model: type[M]) -> M:
    """Parse and validate the JSON body with the shared model (same errors as Quart)."""
    max_bytes = runtime().settings.max_body_bytes
    data = parse_json_body(raw_body(max_bytes), request.content_type, max_bytes)
    return validate(model, data)


def query(model: type[M]) -> M:
    """Validate the query string with the shared model (one conversion for both apps)."""
    return validate(model, query_args(request.args.items(multi=True)))


def run(flow: UseCase[R]) -> R:
    """Drive a use case with the app's blocking effect handler."""
    effects: SyncEffects = runtime().effects
    return drive_sync(flow, effects)


def respond(reply: Reply, model: type[BaseModel]) -> Response:
    """JSON response; the body is checked against ``model`` as quart-schema does in Quart."""
    return Response(json_text(dump_response(model, reply.body)) + "\n", status=reply.status,
                    headers=reply.headers, mimetype="application/json")
