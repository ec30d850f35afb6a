"""quart-schema: validation, ``/openapi.json``, and an offline ``/docs`` page."""

from __future__ import annotations

from quart import Quart, Response
from quart_schema import Info, QuartSchema, hide

from shared import __version__
from shared.api.page import page_html


def init_app(app: Quart) -> None:
    """Install quart-schema with its CDN-hosted UIs off; serve our own docs page instead."""
    QuartSchema(
        app,
        info=Info(title="Xianxia World Engine API", version=__version__),
        openapi_path="/openapi.json",
        swagger_ui_path=None,  # these pages load scripts from CDNs, which are unreachable
        redoc_ui_path=None,
        scalar_ui_path=None,
        convert_casing=False,
    )

    @app.get("/docs")
    @hide
    async def docs_page() -> Response:
        """A self-contained page that renders /openapi.json (no CDN)."""
        return Response(page_html("docs.html"), mimetype="text/html")
