"""Liveness, readiness and metrics."""

from __future__ import annotations

from typing import Any

from quart import Response
from quart_schema import hide, validate_response

from quart_app.blueprints._edge import respond, run
from quart_app.core import runtime
from shared.api import HealthOut
from shared.api.models import ReadyOut
from shared.limits import flows as limits
from shared.runtime import export_metrics
from shared.usecases import health as uc


@validate_response(HealthOut, 200)
async def healthz() -> Any:
    """``GET /healthz``: which app answers, its version and LLM mode."""
    rt = runtime()
    return respond(uc.healthz(rt.ctx, rt.app_name, rt.backend), HealthOut)


@validate_response(ReadyOut, 200)
async def readyz() -> Any:
    """``GET /readyz``: 200 when the store answers and the data is loaded, else 503."""
    rt = runtime()
    return respond(await run(uc.readyz(rt.ctx, rt.app_name)), ReadyOut)


@hide
async def metrics() -> Response:
    """``GET /metrics`` in Prometheus text format."""
    rt = runtime()
    body, content_type = export_metrics(rt)
    budgets = await run(limits.budget_snapshot(rt.ctx))
    extra = limits.budget_metrics_text(budgets, rt.settings.llm_player_daily_tokens)
    return Response(body + extra.encode(), content_type=content_type)
