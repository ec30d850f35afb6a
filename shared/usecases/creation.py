"""Creating a cultivator through the API: the creation limit, an optional inheritance, and
the opening 测灵根 story told like an action's narration (issue 9)."""

from __future__ import annotations

from typing import Any

from shared.limits.flows import creation_allowed
from shared.usecases import players
from shared.usecases.actions import Committed, narrate_committed
from shared.usecases.context import GameContext
from shared.usecases.effects import UseCase
from shared.usecases.hall import claim_inheritance
from shared.usecases.identity import Identity, new_identity
from shared.usecases.replies import Reply
from shared.usecases.views import public_outcome


def create_cultivator(
    ctx: GameContext,
    name: str,
    client: str,
    heir_of: tuple[str, str] | None = None,
    identity: Identity | None = None,
) -> UseCase[Reply]:
    """``POST /api/players``: count the creation against the client's limit, inherit from
    ``heir_of`` (``(predecessor id, its token)``) once, store the cultivator, then narrate its
    creation entry (seq 0) through the budgeted narrator, or queue it in Celery mode.

    The body keeps ``player``, ``version`` and ``token`` and adds ``narration`` (and
    ``narration_task`` when queued). The name is checked before any legacy is claimed, so a
    refused creation never spends a predecessor's legacy.
    """
    yield from creation_allowed(ctx, client)
    ident = identity or new_identity()
    legacy = None
    if heir_of is not None:
        players.creation_entry(ctx, name, ident)  # 422 bad_name before the claim
        legacy = yield from claim_inheritance(ctx, heir_of[0], heir_of[1], ident.player_id)
    row, entry = yield from players.store_cultivator(ctx, name, ident, legacy)
    created = players.created_body(row, ident.token)
    committed = Committed(row.id, entry.seq, public_outcome(entry.outcome), row.state,
                          row.version, entry.narration_request)
    told = yield from narrate_committed(ctx, committed)
    body: dict[str, Any] = {**created.body, "narration": told.body["narration"],
                            "narration_task": told.body["narration_task"]}
    return Reply(body, status=created.status, headers={**created.headers, **told.headers})
