"""Read-only world data."""

from __future__ import annotations

from flask import Response

from legacy_flask.blueprints._edge import respond
from legacy_flask.core import runtime
from shared.api import WorldCatalogOut, WorldIndexOut
from shared.usecases import world as uc


def world_index() -> Response:
    """``GET /api/world``."""
    return respond(uc.world_index(runtime().ctx), WorldIndexOut)


def world_catalog(kind: str) -> Response:
    """``GET /api/world/<kind>``."""
    return respond(uc.world_catalog(runtime().ctx, kind), WorldCatalogOut)
