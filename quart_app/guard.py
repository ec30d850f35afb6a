"""Checks every request passes before its view (the mirror of legacy_flask.guard)."""

from __future__ import annotations

from quart import Quart, request

from quart_app.core import runtime
from shared.api.edge import check_request


def init_app(app: Quart) -> None:
    """Refuse an overlong target, oversized headers or an impossible path id with the
    shared error, before any view or store is reached."""

    @app.before_request
    async def _guard() -> None:
        settings = runtime().settings
        check_request(request.path, request.query_string, request.headers.items(),
                      request.view_args, max_target_chars=settings.max_target_chars,
                      max_header_bytes=settings.max_header_bytes)
