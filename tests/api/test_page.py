"""The page and its assets: versioned URLs, caching and security headers, alike in both apps."""

from __future__ import annotations

import re

from shared.api.page import asset_version, content_security_policy
from tests.support.apiclient import ApiClient


async def test_page_has_security_headers_and_versioned_assets(api: ApiClient) -> None:
    r = await api.get("/")
    assert r.status == 200
    csp = r.headers["Content-Security-Policy"]
    assert csp == content_security_policy()
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp
    assert "unsafe-inline" not in csp and "'sha256-" in csp  # only the shell style, by hash
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-cache"
    assert "<script>" not in r.text and " style=" not in r.text  # no inline script or attrs
    refs = dict(re.findall(r'/static/([\w.]+)\?v=(\w+)"', r.text))
    assert set(refs) == {"app.js", "style.css"}
    for name, version in refs.items():
        assert version == asset_version(name)
        fresh = await api.get(f"/static/{name}?v={version}")
        assert fresh.status == 200
        assert fresh.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert fresh.headers["X-Content-Type-Options"] == "nosniff"
        stale = await api.get(f"/static/{name}?v=0000")
        assert stale.headers["Cache-Control"] == "no-cache"
        plain = await api.get(f"/static/{name}")
        assert plain.headers["Cache-Control"] == "no-cache"


async def test_json_answers_carry_the_same_security_headers(api: ApiClient) -> None:
    r = await api.get("/api/world")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"] == content_security_policy()
    assert "Cache-Control" not in r.headers or r.headers["Cache-Control"] != "no-cache, immutable"
