"""HTTP-edge helpers both apps use: the route table, tokens, SSE framing, JSON settings."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from shared import metrics
from shared.logging_setup import get_logger


class HeaderSink(Protocol):
    """Response headers as both frameworks' ``Headers`` take them."""

    def __setitem__(self, key: str, value: str) -> None: ...


class HeaderSource(Protocol):
    """Request headers as both frameworks' ``Headers`` read them."""

    def get(self, key: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Route:
    """One URL rule: the blueprint and view function names are the same in both apps."""

    blueprint: str
    endpoint: str
    rule: str
    methods: tuple[str, ...]


# The API, once. Each app registers exactly these, so the route tables cannot drift.
ROUTES: tuple[Route, ...] = (
    Route("health", "healthz", "/healthz", ("GET",)),
    Route("health", "readyz", "/readyz", ("GET",)),
    Route("health", "metrics", "/metrics", ("GET",)),
    Route("players", "create_player", "/api/players", ("POST",)),
    Route("players", "get_player", "/api/players/<player_id>", ("GET",)),
    Route("players", "player_action", "/api/players/<player_id>/actions", ("POST",)),
    Route("players", "player_log", "/api/players/<player_id>/log", ("GET",)),
    Route("players", "player_options", "/api/players/<player_id>/options", ("GET",)),
    # Two views of one path, so the OpenAPI document gives GET its query and POST its body.
    Route("llm", "llm", "/api/llm", ("GET",)),
    Route("llm", "llm_post", "/api/llm", ("POST",)),
    Route("llm", "submit_llm_task", "/api/llm/tasks", ("POST",)),
    Route("llm", "get_llm_task", "/api/llm/tasks/<task_id>", ("GET",)),
    Route("hall", "hall", "/api/hall", ("GET",)),
    Route("world", "world_index", "/api/world", ("GET",)),
    Route("world", "world_catalog", "/api/world/<kind>", ("GET",)),
    Route("page", "index", "/", ("GET",)),
)

BLUEPRINTS: tuple[str, ...] = tuple(dict.fromkeys(r.blueprint for r in ROUTES))

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: pass events through as they come
}


def routes_of(blueprint: str) -> tuple[Route, ...]:
    """The routes one blueprint registers."""
    return tuple(r for r in ROUTES if r.blueprint == blueprint)


def register_routes(app: Any, blueprint_cls: type, modules: Mapping[str, ModuleType]) -> None:
    """Register every route of :data:`ROUTES` on ``app`` (Flask or Quart), each blueprint's
    views taken by name from its module in ``modules``."""
    for name in BLUEPRINTS:
        bp = blueprint_cls(name, modules[name].__name__)
        for route in routes_of(name):
            bp.add_url_rule(route.rule, route.endpoint, getattr(modules[name], route.endpoint),
                            methods=list(route.methods))
        app.register_blueprint(bp)


def finish_request(app_name: str, headers: HeaderSink, url_rule: Any,
                   method: str, status: int, started: float | None) -> None:
    """After every response: name the app, and count and time the request by URL rule
    (the rule, not the path, keeps the metric's labels bounded)."""
    headers["X-App"] = app_name
    if started is not None:
        rule = url_rule.rule if url_rule is not None else "<unmatched>"
        metrics.observe_request(rule, method, status, time.perf_counter() - started)


def bearer_token(headers: HeaderSource) -> str | None:
    """The player token from ``Authorization: Bearer …`` (or ``X-Player-Token``)."""
    auth = headers.get("Authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return (headers.get("X-Player-Token") or "").strip() or None


def wants_event_stream(accept: str | None) -> bool:
    """True when the client asked for Server-Sent Events."""
    return bool(accept) and "text/event-stream" in accept.lower()  # type: ignore[union-attr]


def json_text(data: Any) -> str:
    """The one JSON encoding of the API: compact, sorted keys, UTF-8 text as is."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def error_text(err: Any) -> str:
    """The response body of an ``AppError``: the envelope, as both apps send it (a 5xx with
    its fixed public message, see :func:`shared.errors.public_error`)."""
    from shared.errors import public_error

    return json_text(public_error(err).to_body()) + "\n"


def error_headers(err: Any, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers of an error response: the error's own (``Retry-After``) plus ``extra``."""
    return {**err.response_headers(), **(extra or {})}


def error_response(err: Any, extra: Mapping[str, str] | None = None
                   ) -> tuple[str, int, dict[str, str]]:
    """Body, status and headers of an error response, the same in both apps. A 5xx is logged
    with its full message here; the body carries only its fixed public one."""
    if err.status >= 500:
        get_logger("errors").warning("%s %s: %s", err.status, err.code, err.message)
    return error_text(err), err.status, error_headers(err, extra)


def from_http_exception(err: Any) -> tuple[Any, dict[str, str]]:
    """A framework's ``HTTPException`` (404, 405, 413...) as the shared error, plus the
    headers worth keeping (``Allow`` on a 405)."""
    from shared.errors import error_for_status

    allow = {name: value for name, value in err.get_headers() if name.lower() == "allow"}
    return error_for_status(err.code or 500), allow


def sse_event(event: str, data: Any) -> bytes:
    """One Server-Sent Event."""
    return f"event: {event}\ndata: {json_text(data)}\n\n".encode()


def configure_json_provider(provider: Any) -> None:
    """Make Flask's and Quart's JSON providers encode exactly like :func:`json_text`."""
    provider.ensure_ascii = False
    provider.sort_keys = True
    provider.compact = True
