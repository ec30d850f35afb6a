"""One async client interface over Flask's and Quart's test clients.

API tests are written once against :class:`ApiClient` and run for both apps by the
``api`` fixture, so every route and every error is checked in Flask and in Quart alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import Headers

# The starting village's NPC (data/npcs.json): talking is repeatable, so tests that need many
# accepted actions use it instead of cultivating (which stops at the stage's qi cap).
TALK_NPC = "li_laohan"


@dataclass
class ApiResponse:
    """What a test needs from a response, the same for both apps."""

    status: int
    headers: Headers  # case-insensitive, like HTTP
    body: bytes

    @property
    def json(self) -> Any:
        """The body as JSON (fails the test if it is not JSON)."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode()

    def sse_events(self) -> list[tuple[str, Any]]:
        """The body parsed as Server-Sent Events: ``[(event, data), ...]``."""
        events = []
        for block in self.text.split("\n\n"):
            name, data = "message", None
            for line in block.splitlines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
            if data is not None:
                events.append((name, data))
        return events


@dataclass
class ApiClient:
    """``await api.post(path, json=...)`` etc. against either app's test client."""

    app_name: str
    _client: Any
    _is_async: bool
    default_headers: dict[str, str] = field(default_factory=dict)

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      data: bytes | str | None = None, headers: dict[str, str] | None = None,
                      query: dict[str, Any] | None = None) -> ApiResponse:
        """Send one request; ``json_body`` is encoded as application/json."""
        hdrs = {**self.default_headers, **(headers or {})}
        kwargs: dict[str, Any] = {"headers": hdrs}
        if query:
            kwargs["query_string"] = query
        if json_body is not None:
            kwargs["json"] = json_body
        elif data is not None:
            kwargs["data"] = data
        if self._is_async:
            resp = await self._client.open(path, method=method, **kwargs)
            body = await resp.get_data()
        else:
            resp = self._client.open(path, method=method, **kwargs)
            body = resp.get_data()
        return ApiResponse(resp.status_code, Headers(list(resp.headers.items())), body)

    async def get(self, path: str, **kw: Any) -> ApiResponse:
        """GET."""
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> ApiResponse:
        """POST."""
        return await self.request("POST", path, **kw)

    async def create_player(self, name: str = "韩立") -> tuple[str, str, dict[str, Any]]:
        """Create a cultivator; returns (id, token, body)."""
        r = await self.post("/api/players", json_body={"name": name})
        assert r.status == 201, r.text
        body = r.json
        return body["player"]["id"], body["token"], body

    async def chat(self, player_id: str, token: str, text: str = "前辈安好") -> ApiResponse:
        """Talk to the elder of the starting village: an action the rules always allow."""
        return await self.act(player_id, token, {"type": "talk", "target": TALK_NPC, "text": text})

    async def act(self, player_id: str, token: str, action: dict[str, Any],
                  headers: dict[str, str] | None = None) -> ApiResponse:
        """POST one action with the player's token."""
        hdrs = {"Authorization": f"Bearer {token}", **(headers or {})}
        return await self.post(f"/api/players/{player_id}/actions", json_body=action,
                               headers=hdrs)
