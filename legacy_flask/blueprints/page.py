"""The player's page: one static HTML file with its CSS and JS (no build step)."""

from __future__ import annotations

from flask import Response

from shared.api.page import index_html


def index() -> Response:
    """``GET /``: the page, its asset URLs versioned (headers: ``shared.api.page``)."""
    return Response(index_html(), mimetype="text/html")
