"""A client that leaves mid-narration cancels the upstream DeepSeek stream (real hypercorn).

The action itself was committed before the first event, so it is kept; only the prose is
lost, and the upstream call stops instead of running (and being billed) to the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.procs import AppServer, start_app
from tests.support.apiclient import TALK_NPC

pytestmark = pytest.mark.slow


@pytest.fixture
def quart_server(tmp_path: Path, fake: Any) -> Iterator[AppServer]:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'game.db'}",
           "DEEPSEEK_API_KEY": fake.api_key, "DEEPSEEK_BASE_URL": fake.base_url}
    server = start_app("quart", env, tmp_path, small=True)
    try:
        yield server
    finally:
        server.stop()


def _wait_in_flight_zero(fake: Any, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if fake.stats()["in_flight"] == 0:
            return time.monotonic() - start
        time.sleep(0.05)
    pytest.fail(f"upstream still in flight after {timeout}s: {fake.stats()}")


def test_disconnect_mid_stream_cancels_upstream_and_keeps_the_action(
    quart_server: AppServer, fake: Any
) -> None:
    # Each streamed piece takes 1 s (role, text pieces, finish, [DONE]: >= 4 s in all), so
    # after the first delta an uncancelled upstream would stay in flight for >= 2 s more.
    fake.configure(latency=0.0, chunk_delay=1.0)
    with httpx.Client(base_url=quart_server.base_url, timeout=20) as http:
        created = http.post("/api/players", json={"name": "厉飞雨"}).json()
        pid, token = created["player"]["id"], created["token"]
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        action = {"type": "talk", "target": TALK_NPC, "text": "我想拜入仙门，可有门路？"}
        seen: list[str] = []
        with http.stream("POST", f"/api/players/{pid}/actions", json=action,
                         headers=headers) as resp:
            assert resp.status_code == 200
            for line in resp.iter_lines():
                if line.startswith("event: "):
                    seen.append(line[7:])
                if seen.count("delta") >= 1:
                    break  # leave mid-narration: the context manager closes the socket
        assert seen[0] == "outcome" and "done" not in seen
        assert fake.stats()["streams"] == 1
        waited = _wait_in_flight_zero(fake, timeout=1.5)
        assert waited < 1.5
        me = http.get(f"/api/players/{pid}", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["player"]["turn"] == 1  # the action counts
        log = http.get(f"/api/players/{pid}/log",
                       headers={"Authorization": f"Bearer {token}"}).json()
        assert log["entries"][0]["seq"] == 1 and log["entries"][0]["narration"] is None
