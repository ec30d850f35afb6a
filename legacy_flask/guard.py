"""Checks every request passes before its view (the mirror of quart_app.guard)."""

from __future__ import annotations

from flask import Flask, request

from legacy_flask.core import runtime
from shared.api.edge import check_request


def init_app(app: Flask) -> None:
    """Refuse an overlong target, oversized headers or an impossible path id with the
    shared error, before any view or store is reached."""

    @app.before_request
    def _guard() -> None:
        settings = runtime().settings
        check_request(request.path, request.query_string, request.headers.items(),
                      request.view_args, max_target_chars=settings.max_target_chars,
                      max_header_bytes=settings.max_header_bytes)
