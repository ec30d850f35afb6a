"""Use cases about players: create, read, history. Each is a generator of effects."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from shared.errors import Unauthorized, UnknownPlayer
from shared.game import PlayerState, new_player
from shared.game.legacy import Legacy, inherit
from shared.game.options import action_options
from shared.store import NewLogEntry, PlayerRow
from shared.usecases import effects as fx
from shared.usecases.context import GameContext
from shared.usecases.effects import UseCase
from shared.usecases.identity import (
    Identity,
    hash_token,
    new_fate_secret,
    new_identity,
    token_matches,
)
from shared.usecases.replies import Reply
from shared.usecases.views import log_entry_view, player_view

Flow = UseCase[Reply]

DEFAULT_LOG_PAGE = 20


def creation_entry(ctx: GameContext, name: str, ident: Identity,
                   legacy: Legacy | None = None) -> tuple[dict[str, Any], NewLogEntry]:
    """The new cultivator's stored state and its creation entry (seq 0), pure.

    ``legacy`` (from a predecessor, see ``shared.usecases.hall``) is added to the rolled
    cultivator and told in the entry (an ``inherited`` event and narration fact).
    """
    outcome = new_player(ctx.world, name, ident.seed)
    # The hidden fate: a server secret mixed into every action's seed, never sent to a client.
    fate = ident.fate_secret or new_fate_secret()
    rolled = replace(outcome.state, fate_secret=fate)
    public = outcome.to_dict()
    request = outcome.narration.to_dict()
    if legacy is not None:
        rolled = inherit(ctx.world, rolled, legacy)
        gift = legacy.to_dict()
        public["events"] = [*public.get("events", []), {"type": "inherited", **gift}]
        # Everything is still new: each field's change starts from nothing.
        public["changes"] = [{"field": k, "before": None, "after": v}
                             for k, v in rolled.public_dict().items()]
        items = "、".join(ctx.world.items[i].name for i in sorted(legacy.items)
                         if i in ctx.world.items)
        told = f"承{legacy.predecessor}之传承：灵石{legacy.spirit_stones}" + (
            f"，{items}" if items else "") + (f"，真元{legacy.qi}" if legacy.qi else "")
        request["facts"] = {**request.get("facts", {}), "legacy": told}
    state = rolled.to_dict()
    entry = NewLogEntry(
        seq=0,
        action={"type": "create", "name": name},
        outcome={**public, "state": state, "version": 0},  # a new row starts at 0
        narration_request=request,
        idempotency_key=None,
    )
    return state, entry


def store_cultivator(ctx: GameContext, name: str, ident: Identity,
                     legacy: Legacy | None = None) -> UseCase[tuple[PlayerRow, NewLogEntry]]:
    """Roll and store a new cultivator with its creation entry: the row and the entry."""
    state, entry = creation_entry(ctx, name, ident, legacy)
    row = yield from fx.CreatePlayer(ident.player_id, hash_token(ident.token), state, entry)
    return row, entry


def created_body(row: PlayerRow, token: str) -> Reply:
    """The 201 of a creation: the player, its version and its secret token (shown once)."""
    body = {"player": player_view(row.id, row.state), "version": row.version, "token": token}
    return Reply(body, status=201, headers={"Location": f"/api/players/{row.id}"})


def create_player(ctx: GameContext, name: str, identity: Identity | None = None, *,
                  legacy: Legacy | None = None) -> Flow:
    """Roll a new cultivator, store it with its creation entry (seq 0), return it and its token
    (``legacy``: what it inherits, already claimed)."""
    ident = identity or new_identity()
    row, _ = yield from store_cultivator(ctx, name, ident, legacy)
    return created_body(row, ident.token)


def authorize(player_id: str, token: str | None) -> UseCase[PlayerRow]:
    """Load a player and check the token: 401 without one, 404 unknown or wrong."""
    require_token(token)
    return check_token(player_id, token, (yield from fx.LoadPlayer(player_id)))


def require_token(token: str | None) -> None:
    """401 when no token was sent (checked before any I/O)."""
    if not token:
        raise Unauthorized("Send the player token as 'Authorization: Bearer <token>'.")


def check_token(player_id: str, token: str | None, row: PlayerRow | None) -> PlayerRow:
    """404 for an unknown player and, alike, for a token that is not this player's (so the
    answer never tells whether a player exists)."""
    if row is None or not token or not token_matches(token, row.token_hash):
        raise UnknownPlayer()
    return row


def get_player(ctx: GameContext, player_id: str, token: str | None) -> Flow:
    """The player's own state and version."""
    row = yield from authorize(player_id, token)
    return Reply({"player": player_view(row.id, row.state), "version": row.version})


def player_options(ctx: GameContext, player_id: str, token: str | None) -> Flow:
    """Every action with its candidates, allowed or refused with the rules' reason."""
    row = yield from authorize(player_id, token)
    options = action_options(ctx.world, PlayerState.from_dict(row.state))
    return Reply({"version": row.version, "options": options})


def player_log(
    ctx: GameContext, player_id: str, token: str | None, limit: int | None, before: int | None
) -> Flow:
    """History, newest first; ``next_before`` pages further back."""
    yield from authorize(player_id, token)
    size = limit or DEFAULT_LOG_PAGE
    entries = yield from fx.ListLog(player_id, size, before)
    items = [log_entry_view(e) for e in entries]
    next_before = items[-1]["seq"] if len(items) == size and items[-1]["seq"] > 0 else None
    return Reply({"entries": items, "next_before": next_before})
