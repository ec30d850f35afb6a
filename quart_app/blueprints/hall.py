"""The hall of ended runs (public: no token)."""

from __future__ import annotations

from typing import Any

from quart_schema import validate_response

from quart_app.blueprints._edge import query, respond, run
from quart_app.core import runtime
from shared.api.models import HallOut, HallQuery
from shared.usecases import hall as uc


@query(HallQuery)
@validate_response(HallOut, 200)
async def hall(query_args: HallQuery) -> Any:
    """``GET /api/hall?limit=&kind=``: the hall of 飞升者 (``kind=died``: the fallen)."""
    ctx = runtime().ctx
    return respond(await run(uc.list_hall(ctx, query_args.limit, query_args.kind)), HallOut)
