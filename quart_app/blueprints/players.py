"""Players: create, read, act (JSON or Server-Sent Events), history."""

from __future__ import annotations

from typing import Any

from quart import Response, request
from quart_schema import validate_response

from quart_app.blueprints._edge import json_body, query, respond, run
from quart_app.core import runtime
from shared.api import ActionIn, ActionOut, CreatePlayerIn, CreatePlayerOut, LogOut, LogQuery
from shared.api.http import SSE_HEADERS, bearer_token, wants_event_stream
from shared.api.models import OptionsOut, PlayerOut
from shared.limits.addresses import client_address
from shared.usecases import actions, creation, players
from shared.usecases.drivers import stream_async
from shared.usecases.streaming import narration_events


@json_body(CreatePlayerIn)
@validate_response(CreatePlayerOut, 201)
async def create_player(data: CreatePlayerIn) -> Any:
    """``POST /api/players``."""
    rt = runtime()
    client = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                            rt.settings.trusted_proxies)
    heir = (data.heir_of.player_id, data.heir_of.token) if data.heir_of else None
    return respond(await run(creation.create_cultivator(rt.ctx, data.name, client, heir)),
                   CreatePlayerOut)


@validate_response(PlayerOut, 200)
async def get_player(player_id: str) -> Any:
    """``GET /api/players/<id>``."""
    token = bearer_token(request.headers)
    return respond(await run(players.get_player(runtime().ctx, player_id, token)), PlayerOut)


@query(LogQuery)
@validate_response(LogOut, 200)
async def player_log(player_id: str, query_args: LogQuery) -> Any:
    """``GET /api/players/<id>/log?limit=&before=``."""
    token = bearer_token(request.headers)
    ctx = runtime().ctx
    return respond(await run(
        players.player_log(ctx, player_id, token, query_args.limit, query_args.before)
    ), LogOut)


@validate_response(OptionsOut, 200)
async def player_options(player_id: str) -> Any:
    """``GET /api/players/<id>/options``: what the player can do now."""
    token = bearer_token(request.headers)
    return respond(await run(players.player_options(runtime().ctx, player_id, token)),
                   OptionsOut)


@validate_response(ActionOut, 200)
async def _action_json(player_id: str, data: dict[str, Any]) -> Any:
    token = bearer_token(request.headers)
    key = request.headers.get("Idempotency-Key")
    return respond(await run(actions.perform_action(runtime().ctx, player_id, token, data, key)),
                   ActionOut)


@json_body(ActionIn)
async def player_action(player_id: str, data: ActionIn) -> Any:
    """``POST /api/players/<id>/actions``: JSON, or SSE with ``Accept: text/event-stream``."""
    body = data.model_dump()
    if not wants_event_stream(request.headers.get("Accept")):
        return await _action_json(player_id, body)
    rt = runtime()
    token = bearer_token(request.headers)
    key = request.headers.get("Idempotency-Key")
    committed = await run(actions.commit_action(rt.ctx, player_id, token, body, key))
    events = stream_async(narration_events(rt.ctx, committed), rt.effects)
    resp = Response(events, status=200, headers={**SSE_HEADERS, **committed.headers()},
                    mimetype="text/event-stream")
    resp.timeout = None  # Quart's RESPONSE_TIMEOUT (60 s) must not cut a long narration
    return resp


# The OpenAPI document reads response schemas from the routed function.
player_action.__dict__.update(
    {k: v for k, v in _action_json.__dict__.items() if k.startswith("_quart_schema")}
)
