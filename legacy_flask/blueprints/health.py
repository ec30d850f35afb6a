"""Liveness, readiness and metrics."""

from __future__ import annotations

from flask import Response

from legacy_flask.blueprints._edge import respond, run
from legacy_flask.core import runtime
from shared.api import HealthOut
from shared.api.models import ReadyOut
from shared.limits import flows as limits
from shared.runtime import export_metrics
from shared.usecases import health as uc


def healthz() -> Response:
    """``GET /healthz``: which app answers, its version and LLM mode."""
    rt = runtime()
    return respond(uc.healthz(rt.ctx, rt.app_name, rt.backend), HealthOut)


def readyz() -> Response:
    """``GET /readyz``: 200 when the store answers and the data is loaded, else 503."""
    rt = runtime()
    return respond(run(uc.readyz(rt.ctx, rt.app_name)), ReadyOut)


def metrics() -> Response:
    """``GET /metrics`` in Prometheus text format (gunicorn workers aggregated)."""
    rt = runtime()
    body, content_type = export_metrics(rt)
    budgets = run(limits.budget_snapshot(rt.ctx))
    extra = limits.budget_metrics_text(budgets, rt.settings.llm_player_daily_tokens)
    return Response(body + extra.encode(), content_type=content_type)
