"""The player's page: one static HTML file with its CSS and JS (no build step)."""

from __future__ import annotations

from flask import Response, current_app


def index() -> Response:
    """``GET /``."""
    resp = current_app.send_static_file("index.html")
    resp.headers["Cache-Control"] = "no-cache"
    return resp
