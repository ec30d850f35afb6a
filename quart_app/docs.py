"""quart-schema: validation, ``/openapi.json``, and an offline ``/docs`` page."""

from __future__ import annotations

from typing import Any

from quart import Quart, Response
from quart_schema import Info, QuartSchema, hide
from quart_schema.openapi import QUART_SCHEMA_SECURITY_ATTRIBUTE, OpenAPIProvider
from quart_schema.validation import QUART_SCHEMA_RESPONSE_ATTRIBUTE

from shared import __version__
from shared.api.models import ErrorOut
from shared.api.openapi import BEARER_ROUTES, BEARER_SCHEME, error_statuses
from shared.api.page import page_html


class _Provider(OpenAPIProvider):
    """quart-schema's document, with every JSON request body marked required (the routes
    answer 415 without one) and required query parameters marked so."""

    def build_querystring_parameters(
        self, model: type[Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        params, components = super().build_querystring_parameters(model)
        required = set(model.model_json_schema().get("required", ()))
        for param in params:
            if param.get("name") in required:
                param["required"] = True
        return params, components

    def schema(self) -> dict[str, Any]:
        doc = super().schema()
        for operations in doc.get("paths", {}).values():
            for operation in operations.values():
                if isinstance(operation, dict) and "requestBody" in operation:
                    operation["requestBody"]["required"] = True
        return doc


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
        security_schemes=BEARER_SCHEME,
        openapi_provider_class=_Provider,
    )

    @app.get("/docs")
    @hide
    async def docs_page() -> Response:
        """A self-contained page that renders /openapi.json (no CDN)."""
        return Response(page_html("docs.html"), mimetype="text/html")


def document_errors(app: Quart) -> None:
    """After the routes are registered: list each route's error statuses with the envelope
    schema, and the bearer scheme on the routes that read a token (shared.api.openapi)."""
    for endpoint, view in app.view_functions.items():
        if "." not in endpoint or endpoint.startswith("static"):
            continue
        responses = dict(getattr(view, QUART_SCHEMA_RESPONSE_ATTRIBUTE, {}))
        for status in error_statuses(endpoint):
            responses.setdefault(status, (ErrorOut, None))
        setattr(view, QUART_SCHEMA_RESPONSE_ATTRIBUTE, responses)
        if endpoint in BEARER_ROUTES:
            setattr(view, QUART_SCHEMA_SECURITY_ATTRIBUTE, [{"bearer": []}])
