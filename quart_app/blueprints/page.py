"""The player's page: one static HTML file with its CSS and JS (no build step)."""

from __future__ import annotations

from quart import Response
from quart_schema import hide

from shared.api.page import index_html


@hide
async def index() -> Response:
    """``GET /``: the page, its asset URLs versioned (headers: ``shared.api.page``)."""
    return Response(index_html(), mimetype="text/html")
