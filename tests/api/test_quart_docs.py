"""quart_app's OpenAPI document and its offline docs page."""

from __future__ import annotations

import re

from quart_app import create_app
from shared.api.http import ROUTES
from shared.config import Settings


async def test_openapi_lists_every_api_route_and_docs_page_needs_no_cdn(
    settings: Settings,
) -> None:
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        spec = await (await client.get("/openapi.json")).get_json()
        assert spec["openapi"].startswith("3.")
        paths = spec["paths"]
        for route in ROUTES:
            if route.rule.startswith("/api/"):
                openapi_path = route.rule.replace("<", "{").replace(">", "}")
                assert openapi_path in paths, openapi_path
        action = paths["/api/players/{player_id}/actions"]["post"]
        assert "requestBody" in action
        assert "200" in action["responses"]
        page = await client.get("/docs")
        assert page.status_code == 200
        html = (await page.get_data()).decode()
        script = await client.get("/static/docs.js")
        assert "openapi.json" in (await script.get_data()).decode()
        # Nothing is fetched from elsewhere, and nothing is inline (the CSP allows 'self' only).
        assert "http" not in " ".join(re.findall(r'(?:src|href)="([^"]*)"', html))
        assert "<script>" not in html and "<style>" not in html
