"""The hall of ended runs (public: no token)."""

from __future__ import annotations

from flask import Response

from legacy_flask.blueprints._edge import query, respond, run
from legacy_flask.core import runtime
from shared.api.models import HallOut, HallQuery
from shared.usecases import hall as uc


def hall() -> Response:
    """``GET /api/hall?limit=&kind=``: the hall of 飞升者 (``kind=died``: the fallen)."""
    q = query(HallQuery)
    return respond(run(uc.list_hall(runtime().ctx, q.limit, q.kind)), HallOut)
