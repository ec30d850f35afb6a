"""Players: create, read, act (JSON or Server-Sent Events), history."""

from __future__ import annotations

from flask import Response, request, stream_with_context

from legacy_flask.blueprints._edge import json_body, query, respond, run
from legacy_flask.core import runtime
from shared.api import ActionIn, ActionOut, CreatePlayerIn, CreatePlayerOut, LogOut, LogQuery
from shared.api.http import SSE_HEADERS, bearer_token, wants_event_stream
from shared.api.models import OptionsOut, PlayerOut
from shared.limits.addresses import client_address
from shared.usecases import actions, creation, players
from shared.usecases.drivers import stream_sync
from shared.usecases.streaming import narration_events


def create_player() -> Response:
    """``POST /api/players``."""
    data = json_body(CreatePlayerIn)
    rt = runtime()
    client = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                            rt.settings.trusted_proxies)
    heir = (data.heir_of.player_id, data.heir_of.token) if data.heir_of else None
    return respond(run(creation.create_cultivator(rt.ctx, data.name, client, heir)),
                   CreatePlayerOut)


def get_player(player_id: str) -> Response:
    """``GET /api/players/<id>``."""
    reply = run(players.get_player(runtime().ctx, player_id, bearer_token(request.headers)))
    return respond(reply, PlayerOut)


def player_log(player_id: str) -> Response:
    """``GET /api/players/<id>/log?limit=&before=``."""
    q = query(LogQuery)
    token = bearer_token(request.headers)
    return respond(run(players.player_log(runtime().ctx, player_id, token, q.limit, q.before)),
                   LogOut)


def player_options(player_id: str) -> Response:
    """``GET /api/players/<id>/options``: what the player can do now."""
    token = bearer_token(request.headers)
    return respond(run(players.player_options(runtime().ctx, player_id, token)), OptionsOut)


def player_action(player_id: str) -> Response:
    """``POST /api/players/<id>/actions``: JSON, or SSE with ``Accept: text/event-stream``."""
    data = json_body(ActionIn).model_dump()
    token = bearer_token(request.headers)
    key = request.headers.get("Idempotency-Key")
    ctx = runtime().ctx
    if not wants_event_stream(request.headers.get("Accept")):
        return respond(run(actions.perform_action(ctx, player_id, token, data, key)), ActionOut)
    committed = run(actions.commit_action(ctx, player_id, token, data, key))
    events = stream_sync(narration_events(ctx, committed), runtime().effects)
    return Response(stream_with_context(events), status=200,
                    headers={**SSE_HEADERS, **committed.headers()}, mimetype="text/event-stream")
