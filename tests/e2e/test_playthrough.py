"""A scripted game: creation, cultivation to a breakthrough, travel, explore, fight.

Played through the HTTP API of each app, once narrated by the fake DeepSeek server and once
by the offline narrator, checking that every number the outcome reports is what the state shows.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.config import Settings
from tests.support.apiclient import ApiClient, ApiResponse

MAX_TURNS = 150  # bound: a weak root may need a few tries at the first breakthrough


@pytest.fixture(params=["fake-llm", "offline"])
def settings(request: pytest.FixtureRequest, sqlite_url: str) -> Settings:
    """Each app twice: narrated by the fake DeepSeek server, and by the offline narrator."""
    if request.param == "offline":
        return Settings(database_url=sqlite_url, action_rate_per_minute=0)
    fake = request.getfixturevalue("fake")
    fake.configure(latency=0.0)
    return fake.settings(database_url=sqlite_url, action_rate_per_minute=0)


class Game:
    """The player's side of the script: act, and check the outcome against the state."""

    def __init__(self, api: ApiClient, pid: str, token: str, player: dict[str, Any],
                 online: bool) -> None:
        self.api, self.pid, self.token, self.player = api, pid, token, player
        self.online = online
        self.turns = 0

    async def send(self, action: dict[str, Any]) -> ApiResponse:
        """Send one action, whatever its answer (bounded number of turns)."""
        self.turns += 1
        assert self.turns <= MAX_TURNS, "the script took too many turns"
        return await self.api.act(self.pid, self.token, action)

    def accept(self, r: ApiResponse) -> None:
        """An accepted action: every reported change matches the state before and after."""
        assert r.status == 200, r.text
        body = r.json
        for change in body["outcome"]["changes"]:
            field = change["field"]
            if field in self.player and not isinstance(self.player[field], (dict, list)):
                assert self.player[field] == change["before"], change
                assert body["player"][field] == change["after"], change
        assert body["player"]["turn"] == self.player["turn"] + 1
        assert body["narration"]["text"]
        assert body["narration"]["degraded"] is (not self.online)
        self.player = body["player"]

    async def act(self, action: dict[str, Any]) -> ApiResponse:
        """Send an action the script expects the rules to accept."""
        r = await self.send(action)
        self.accept(r)
        return r


async def test_scripted_playthrough(api: ApiClient, settings: Settings) -> None:
    online = settings.llm_enabled
    pid, token, created = await api.create_player("石穿空")
    game = Game(api, pid, token, created["player"], online)
    start_realm = (game.player["realm"], game.player["stage"])

    # Cultivate to the cap, then try to break through, until one breakthrough succeeds.
    broke_through = False
    while not broke_through:
        r = await game.send({"type": "cultivate"})
        if r.status == 422 and r.json["error"]["code"] == "qi_full":
            br = await game.act({"type": "breakthrough"})
            broke_through = br.json["outcome"]["success"]
            if not broke_through and game.player["hp"] < game.player["max_hp"]:
                await game.act({"type": "rest"})
        else:
            game.accept(r)
    assert (game.player["realm"], game.player["stage"]) != start_realm

    # Travel to a neighbour that has monsters, explore there, and fight one.
    locations = {loc["id"]: loc for loc in (await api.get("/api/world/locations")).json["entries"]}
    here = locations[game.player["location"]]
    target = next(r["to"] for r in here["routes"] if locations[r["to"]]["monsters"])
    await game.act({"type": "travel", "target": target})
    assert game.player["location"] == target
    explored = await game.act({"type": "explore"})
    assert explored.json["outcome"]["events"]
    if game.player["pending_choice"]:
        # A choice event: anything else is 409 until it is answered.
        blocked = await game.send({"type": "rest"})
        assert blocked.status == 409 and blocked.json["error"]["code"] == "choice_pending"
        choice = next(e for e in explored.json["outcome"]["events"] if e["type"] == "choice")
        option = next(o for o in choice["options"] if o["cost"] <= game.player["spirit_stones"])
        await game.act({"type": "choose", "target": option["id"]})
    if game.player["hp"] < game.player["max_hp"] // 2:
        await game.act({"type": "rest"})
    monster = locations[target]["monsters"][0]
    fought = await game.act({"type": "fight", "target": monster})
    assert fought.json["outcome"]["action"] == "fight"

    # The history holds every accepted turn, newest first, each with its prose.
    log = await api.get(f"/api/players/{pid}/log", headers={"Authorization": f"Bearer {token}"},
                        query={"limit": 100})
    entries = log.json["entries"]
    assert [e["seq"] for e in entries] == list(range(game.player["turn"], -1, -1))
    assert all(e["narration"] for e in entries[:-1])
