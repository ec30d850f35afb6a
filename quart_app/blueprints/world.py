"""Read-only world data."""

from __future__ import annotations

from typing import Any

from quart_schema import validate_response

from quart_app.blueprints._edge import respond
from quart_app.core import runtime
from shared.api import WorldCatalogOut, WorldIndexOut
from shared.usecases import world as uc


@validate_response(WorldIndexOut, 200)
async def world_index() -> Any:
    """``GET /api/world``."""
    return respond(uc.world_index(runtime().ctx), WorldIndexOut)


@validate_response(WorldCatalogOut, 200)
async def world_catalog(kind: str) -> Any:
    """``GET /api/world/<kind>``."""
    return respond(uc.world_catalog(runtime().ctx, kind), WorldCatalogOut)
