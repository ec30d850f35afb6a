"""The player's page: one static HTML file with its CSS and JS (no build step)."""

from __future__ import annotations

from quart import Response, current_app
from quart_schema import hide


@hide
async def index() -> Response:
    """``GET /``."""
    resp = await current_app.send_static_file("index.html")
    resp.headers["Cache-Control"] = "no-cache"
    return resp
