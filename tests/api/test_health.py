"""Health, readiness, metrics, world data, the page and the API docs, on both apps."""

from __future__ import annotations

from tests.support.apiclient import ApiClient


async def test_healthz_names_the_app(api: ApiClient) -> None:
    r = await api.get("/healthz")
    assert r.status == 200
    body = r.json
    assert body["status"] == "ok"
    assert body["app"] == api.app_name
    assert body["llm_mode"] == "offline"
    assert body["llm_backend"] == ("httpx" if api.app_name == "quart" else "sync")
    assert r.headers["X-App"] == api.app_name


async def test_readyz_is_200_when_store_answers(api: ApiClient) -> None:
    r = await api.get("/readyz")
    assert r.status == 200
    assert r.json == {"status": "ready", "app": api.app_name}


async def test_metrics_count_requests_by_route(api: ApiClient) -> None:
    await api.get("/healthz")
    r = await api.get("/metrics")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "/healthz" in r.text


async def test_world_catalogues(api: ApiClient) -> None:
    index = await api.get("/api/world")
    assert index.status == 200
    kinds = index.json["kinds"]
    assert {"realms", "locations", "items"} <= set(kinds)
    for kind in kinds:
        r = await api.get(f"/api/world/{kind}")
        assert r.status == 200
        assert r.json["kind"] == kind
        assert len(r.json["entries"]) == index.json["counts"][kind]
    realms = (await api.get("/api/world/realms")).json["entries"]
    assert len(realms) >= 9


async def test_page_is_served(api: ApiClient) -> None:
    r = await api.get("/")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "/static/app.js" in r.text
    js = await api.get("/static/app.js")
    assert js.status == 200


async def test_405_names_the_allowed_methods(api: ApiClient) -> None:
    r = await api.request("DELETE", "/api/players/someone")
    assert r.status == 405
    assert r.json["error"]["code"] == "method_not_allowed"
    assert "GET" in r.headers["Allow"]
