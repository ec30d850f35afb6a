"""Request and response plumbing for Flask views (the mirror of quart_app's ``_edge``)."""

from __future__ import annotations

from typing import TypeVar

from flask import Response, request
from pydantic import BaseModel

from legacy_flask.core import runtime
from shared.api import parse_json_body, validate
from shared.api.bodies import dump_response
from shared.api.http import json_text
from shared.usecases import Reply, SyncEffects, drive_sync
from shared.usecases.effects import UseCase

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


def json_body(model: type[M]) -> M:
    """Parse and validate the JSON body with the shared model (same errors as Quart)."""
    rt = runtime()
    raw = request.get_data(cache=True)
    data = parse_json_body(raw, request.content_type, rt.settings.max_body_bytes)
    return validate(model, data)


def query(model: type[M]) -> M:
    """Validate the query string with the shared model."""
    return validate(model, request.args.to_dict())


def run(flow: UseCase[R]) -> R:
    """Drive a use case with the app's blocking effect handler."""
    effects: SyncEffects = runtime().effects
    return drive_sync(flow, effects)


def respond(reply: Reply, model: type[BaseModel]) -> Response:
    """JSON response; the body is checked against ``model`` as quart-schema does in Quart."""
    return Response(json_text(dump_response(model, reply.body)) + "\n", status=reply.status,
                    headers=reply.headers, mimetype="application/json")
