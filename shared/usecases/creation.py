"""Creating a cultivator through the API: the creation limit, an optional inheritance, and
the opening 测灵根 story told like an action's narration (issue 9)."""

from __future__ import annotations

from typing import Any

from shared.limits.flows import creation_allowed
from shared.store import PlayerExists
from shared.usecases import players
from shared.usecases.actions import Committed, narrate_committed
from shared.usecases.context import GameContext
from shared.usecases.effects import UseCase
from shared.usecases.hall import find_inheritance, store_heir
from shared.usecases.identity import Identity, new_identity
from shared.usecases.replies import Reply
from shared.usecases.views import public_outcome

CREATE_ATTEMPTS = 3  # fresh identities tried when an id is taken (uuid4: never, in practice)


def create_cultivator(
    ctx: GameContext,
    name: str,
    client: str,
    heir_of: tuple[str, str] | None = None,
    identity: Identity | None = None,
) -> UseCase[Reply]:
    """``POST /api/players``: count the creation against the client's limit, inherit from
    ``heir_of`` (``(predecessor id, its token)``) once, store the cultivator (claiming the
    legacy in the same transaction), then narrate its creation entry (seq 0) through the
    budgeted narrator, or queue it in Celery mode.

    The body keeps ``player``, ``version`` and ``token`` and adds ``narration`` (and
    ``narration_task`` when queued). A refused or failed creation never spends a predecessor's
    legacy: the name is checked first, and the claim commits only with the new player.
    """
    yield from creation_allowed(ctx, client)
    ident = identity or new_identity()
    legacy = None
    if heir_of is not None:
        players.creation_entry(ctx, name, ident)  # a bad name is refused before anything else
        legacy = yield from find_inheritance(ctx, heir_of[0], heir_of[1], ident.player_id)
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            if heir_of is None:
                row, entry = yield from players.store_cultivator(ctx, name, ident)
            else:
                # Claimed in the insert's transaction: a failed creation never spends it.
                row, entry = yield from store_heir(ctx, name, ident, legacy, heir_of[0])
            break
        except PlayerExists:
            # A random id already taken (or a fixed one given twice): a fresh identity, so
            # the player never sees the collision; a given identity is the caller's to fix.
            if identity is not None or attempt == CREATE_ATTEMPTS:
                raise
            ident = new_identity()
    created = players.created_body(row, ident.token)
    committed = Committed(row.id, entry.seq, public_outcome(entry.outcome), row.state,
                          row.version, entry.narration_request)
    told = yield from narrate_committed(ctx, committed)
    body: dict[str, Any] = {**created.body, "narration": told.body["narration"],
                            "narration_task": told.body["narration_task"]}
    return Reply(body, status=created.status, headers={**created.headers, **told.headers})
