"""Hostile and sloppy input against both apps: a clear 4xx every time, never a 500,
and the store unchanged."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from shared.config import Settings
from tests.support.apiclient import ApiClient

JSON = {"Content-Type": "application/json"}


def _counts(settings: Settings) -> tuple[int, int, str]:
    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        players = db.execute("select count(*) from players").fetchone()[0]
        entries = db.execute("select count(*) from action_log").fetchone()[0]
        states = "".join(r[0] for r in db.execute("select state from players order by id"))
    return players, entries, states


# (method, path template, request kwargs, status, error code); {pid} is a real player.
CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("POST", "/api/players", {"data": b"{not json", "headers": JSON}, 400, "malformed_json"),
    ("POST", "/api/players", {"data": b"", "headers": JSON}, 400, "malformed_json"),
    ("POST", "/api/players", {"data": b"\xff\xfe", "headers": JSON}, 400, "malformed_json"),
    ("POST", "/api/players", {"data": b'{"name": "x"}',
                              "headers": {"Content-Type": "text/plain"}}, 415,
     "unsupported_media_type"),
    ("POST", "/api/players", {"json_body": ["韩立"]}, 400, "validation_error"),
    ("POST", "/api/players", {"json_body": {"name": 42}}, 400, "validation_error"),
    ("POST", "/api/players", {"json_body": {"name": ""}}, 400, "validation_error"),
    ("POST", "/api/players", {"json_body": {"name": "\x00\x07  "}}, 400, "validation_error"),
    ("POST", "/api/players", {"json_body": {"name": "a" * 25}}, 400, "validation_error"),
    ("POST", "/api/players", {"json_body": {"nmae": "韩立"}}, 400, "validation_error"),
    ("POST", "/api/players", {"json_body": {"name": "韩立", "admin": True}}, 400,
     "validation_error"),
    ("POST", "/api/players", {"data": b'{"name": "' + b"x" * 70000 + b'"}', "headers": JSON},
     413, "payload_too_large"),
    ("POST", "/api/players/{pid}/actions", {"json_body": {"type": "fly"}, "auth": True}, 400,
     "validation_error"),
    ("POST", "/api/players/{pid}/actions", {"json_body": {}, "auth": True}, 400,
     "validation_error"),
    ("POST", "/api/players/{pid}/actions", {"json_body": {"type": "travel", "target": 7},
                                            "auth": True}, 400, "validation_error"),
    ("POST", "/api/players/{pid}/actions", {"json_body": {"type": "rest"}}, 401,
     "unauthorized"),
    ("POST", "/api/players/{pid}/actions", {"json_body": {"type": "rest"},
                                            "headers": {"Authorization": "Bearer pt_wrong"}},
     404, "player_not_found"),
    ("POST", "/api/players/{pid}/actions", {"json_body": {"type": "rest"},
                                            "headers": {"Authorization": "Basic abc"}},
     401, "unauthorized"),
    ("POST", "/api/players/nope'--/actions", {"json_body": {"type": "rest"}, "auth": True},
     404, "player_not_found"),
    ("GET", "/api/players/{pid}", {}, 401, "unauthorized"),
    ("GET", "/api/players/{pid}/log", {"auth": True, "query": {"limit": 0}}, 400,
     "validation_error"),
    ("GET", "/api/players/{pid}/log", {"auth": True, "query": {"before": -1}}, 400,
     "validation_error"),
    ("DELETE", "/api/players/{pid}", {}, 405, "method_not_allowed"),
    ("GET", "/api/players", {}, 405, "method_not_allowed"),
    ("GET", "/no/such/route", {}, 404, "not_found"),
    ("GET", "/api/world/dragons", {}, 404, "unknown_catalogue"),
    ("POST", "/api/llm", {"json_body": {"prompt": ""}}, 400, "validation_error"),
    ("POST", "/api/llm", {"json_body": {"prompt": 3}}, 400, "validation_error"),
    ("POST", "/api/llm", {"data": b"[", "headers": JSON}, 400, "malformed_json"),
    ("GET", "/api/llm", {}, 400, "validation_error"),
    ("GET", "/api/llm", {"query": {"prompt": "问道"}}, 401, "unauthorized"),
    ("GET", "/api/llm", {"auth": True, "query": {"prompt": "\u200b"}}, 400, "validation_error"),
    ("GET", "/api/llm/tasks/abc", {}, 503, "not_ready"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), CASES,
                         ids=[f"{c[0]} {c[1]} {c[3]}-{i}" for i, c in enumerate(CASES)])
async def test_bad_input_gets_clear_4xx_and_changes_nothing(
    api: ApiClient, settings: Settings, method: str, path: str, kwargs: dict[str, Any],
    status: int, code: str,
) -> None:
    pid, token, _ = await api.create_player()
    before = _counts(settings)
    kw = dict(kwargs)
    headers = dict(kw.pop("headers", {}))
    if kw.pop("auth", False):
        headers["Authorization"] = f"Bearer {token}"
    r = await api.request(method, path.format(pid=pid), headers=headers, **kw)
    assert r.status == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert set(r.json) == {"error"}
    assert r.json["error"]["code"] == code
    assert r.json["error"]["message"]
    assert _counts(settings) == before


@pytest.mark.parametrize("name", [
    "x'); DROP TABLE players;",
    "<b>x</b><script>",
    "🐉渡劫🔥",
    "韩立\u202e反",
])
async def test_strange_names_are_stored_as_text(api: ApiClient, settings: Settings,
                                                name: str) -> None:
    r = await api.post("/api/players", json_body={"name": name})
    assert r.status == 201, r.text
    stored = r.json["player"]["name"]
    assert stored == name.replace("\u202e", "")  # bidi override stripped, the rest kept
    assert _counts(settings)[0] == 1
