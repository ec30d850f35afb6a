"""Both real servers (gunicorn + hypercorn) on 127.0.0.1, one scripted game each, with the
fake DeepSeek server narrating: every response must be the same, byte for byte after parsing,
except the app's own name.

The same player (id, token, rolled root) is written into each app's database before the
servers start, so the rules, seeded by (player id, turn), must decide the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.procs import AppServer, start_app
from shared.config import Settings
from shared.data import load_world
from shared.store import open_store
from shared.usecases import GameContext, SyncEffects, drive_sync
from shared.usecases.identity import Identity
from shared.usecases.players import create_player
from tests.support.apiclient import TALK_NPC

pytestmark = pytest.mark.slow

# A fixed fate secret too: both databases must hold the same player for the same game.
IDENTITY = Identity(player_id="e2e0000000000000000000000000beef", token="pt_e2e-parity-token-0001",
                    seed=20261128, fate_secret="e2e-parity-fate-0001")
AUTH = {"Authorization": f"Bearer {IDENTITY.token}"}

# (method, path, json body, extra headers) — the game both servers replay.
SCRIPT: list[tuple[str, str, Any, dict[str, str]]] = [
    ("GET", "/readyz", None, {}),
    ("GET", f"/api/players/{IDENTITY.player_id}", None, AUTH),
    ("POST", f"/api/players/{IDENTITY.player_id}/actions", {"type": "cultivate"}, AUTH),
    ("POST", f"/api/players/{IDENTITY.player_id}/actions", {"type": "cultivate"},
     {**AUTH, "Idempotency-Key": "k-1"}),
    ("POST", f"/api/players/{IDENTITY.player_id}/actions", {"type": "cultivate"},
     {**AUTH, "Idempotency-Key": "k-1"}),
    ("POST", f"/api/players/{IDENTITY.player_id}/actions",
     {"type": "talk", "target": TALK_NPC, "text": "老丈，山上可有仙缘？"}, AUTH),
    ("POST", f"/api/players/{IDENTITY.player_id}/actions", {"type": "explore"},
     {**AUTH, "Accept": "text/event-stream"}),
    ("POST", f"/api/players/{IDENTITY.player_id}/actions", {"type": "breakthrough"}, AUTH),
    ("POST", f"/api/players/{IDENTITY.player_id}/actions", {"type": "fly"}, AUTH),
    ("POST", f"/api/players/{IDENTITY.player_id}/actions", {"type": "rest"}, {}),
    ("POST", "/api/llm", {"prompt": "写一句关于青云山的诗"}, AUTH),
    ("GET", "/api/llm?prompt=%E9%97%AE%E9%81%93", None, AUTH),
    ("POST", "/api/llm", {"prompt": "写一句关于青云山的诗"}, {}),
    ("GET", "/api/world/realms", None, {}),
    ("GET", f"/api/players/{IDENTITY.player_id}/log?limit=50", None, AUTH),
    ("POST", "/api/players", b"{broken", {"Content-Type": "application/json"}),
    ("GET", "/nowhere", None, {}),
]


def _seed_player(db_path: Path) -> None:
    """Write the scripted player into a fresh database, as POST /api/players would."""
    settings = Settings(database_url=f"sqlite:///{db_path}")
    store = open_store(settings.database_url)
    store.init_schema()
    try:
        ctx = GameContext(load_world(settings.data_dir), settings)
        drive_sync(create_player(ctx, "韩立", IDENTITY), SyncEffects(store, None))
    finally:
        store.close()


@pytest.fixture
def servers(tmp_path: Path, fake_deepseek: Any) -> Iterator[dict[str, AppServer]]:
    fake_deepseek.reset()
    fake_deepseek.configure(latency=0.05)
    started: dict[str, AppServer] = {}
    try:
        for kind in ("flask", "quart"):
            db = tmp_path / f"{kind}.db"
            _seed_player(db)
            env = {"DATABASE_URL": f"sqlite:///{db}", "DEEPSEEK_API_KEY": fake_deepseek.api_key,
                   "DEEPSEEK_BASE_URL": fake_deepseek.base_url, "LLM_BACKEND": ""}
            started[kind] = start_app(kind, env, tmp_path, small=True)
        yield started
    finally:
        for server in started.values():
            server.stop()


def _normalise(status: int, headers: httpx.Headers, body: bytes) -> dict[str, Any]:
    """What must be equal: status, content type, replay header, and the parsed body
    (log timestamps removed: the two databases were written at different moments)."""
    ctype = headers.get("content-type", "")
    if ctype.startswith("text/event-stream"):
        parsed: Any = [line for line in body.decode().split("\n\n") if line]
    else:
        parsed = json.loads(body)
        for entry in parsed.get("entries", []) if isinstance(parsed, dict) else []:
            entry.pop("created_at", None)
        if isinstance(parsed, dict) and parsed.get("app") in ("flask", "quart"):
            parsed["app"] = "<app>"
    return {"status": status, "type": ctype, "replayed": headers.get("idempotent-replayed"),
            "body": parsed}


def test_same_game_same_responses_on_gunicorn_and_hypercorn(
    servers: dict[str, AppServer], fake_deepseek: Any
) -> None:
    transcripts: dict[str, list[dict[str, Any]]] = {}
    for kind, server in servers.items():
        out = []
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            for method, path, payload, headers in SCRIPT:
                kwargs: dict[str, Any] = {"headers": headers}
                if isinstance(payload, bytes):
                    kwargs["content"] = payload
                elif payload is not None:
                    kwargs["json"] = payload
                r = http.request(method, path, **kwargs)
                assert r.headers["x-app"] == kind
                assert r.status_code < 500, (kind, path, r.text, server.log_text()[-2000:])
                out.append(_normalise(r.status_code, r.headers, r.content))
        transcripts[kind] = out
    for step, (flask_r, quart_r) in enumerate(zip(transcripts["flask"], transcripts["quart"],
                                                  strict=True)):
        assert flask_r == quart_r, f"step {step}: {SCRIPT[step][:2]}"
    statuses = [r["status"] for r in transcripts["quart"]]
    assert statuses.count(200) >= 10 and 400 in statuses and 401 in statuses
    narrated = [r["body"] for r in transcripts["quart"]
                if isinstance(r["body"], dict) and r["body"].get("narration")]
    assert narrated and all(n["narration"]["degraded"] is False for n in narrated)
    assert fake_deepseek.stats()["chat"] > 0
