"""What ``/openapi.json`` says beyond the success bodies: each route's error statuses (all in
the envelope :class:`shared.api.models.ErrorOut`) and which routes need the bearer token.

One table for both apps: the schemathesis pass (tests/api/test_schema_fuzz.py) fails on any
status an app answers that is not listed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Any route: an overlong target (414), oversized headers (431), a bug (500).
EVERY_ROUTE: tuple[int, ...] = (414, 431, 500)
_BODY = (400, 413, 415)  # a JSON body: malformed or invalid, too large, not JSON

ERRORS: Mapping[str, tuple[int, ...]] = {
    "health.healthz": (),
    "health.readyz": (503,),
    # 404/409/422: an heir_of with a wrong token, an inherited legacy, a run not ended.
    "players.create_player": (*_BODY, 404, 409, 422, 429, 503),
    "players.get_player": (401, 404, 503),
    "players.player_log": (400, 401, 404, 503),
    "players.player_options": (401, 404, 503),
    "players.player_action": (*_BODY, 401, 404, 409, 422, 429, 503),
    "llm.llm": (400, 401, 404, 429, 503, 504),
    "llm.llm_post": (*_BODY, 401, 404, 429, 503, 504),
    "llm.submit_llm_task": (*_BODY, 401, 404, 429, 503),
    "llm.get_llm_task": (404, 503),
    "hall.hall": (400, 503),
    "world.world_index": (),
    "world.world_catalog": (404,),
}

# Routes that read the player token from ``Authorization: Bearer``.
BEARER_ROUTES: frozenset[str] = frozenset({
    "players.get_player", "players.player_log", "players.player_action", "players.player_options",
    "llm.llm", "llm.llm_post", "llm.submit_llm_task",
})

# The player token from POST /api/players.
BEARER_SCHEME: dict[str, Any] = {"bearer": {"type": "http", "scheme": "bearer"}}


def error_statuses(endpoint: str) -> tuple[int, ...]:
    """Every error status ``endpoint`` may answer, sorted."""
    return tuple(sorted({*ERRORS.get(endpoint, ()), *EVERY_ROUTE}))
