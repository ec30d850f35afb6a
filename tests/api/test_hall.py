"""The end of a story through both apps: old age and 飞升 end the run, later actions get 422
``ended``, ``GET /api/hall`` lists the record, an heir inherits once, and creation tells its
opening story (issue 9)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config import Settings
from shared.data import World
from shared.game.lifespan import DAYS_PER_YEAR
from tests.api.conftest import AppPair
from tests.api.test_gameworld_actions import seed_state
from tests.support.apiclient import ApiClient


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    """Offline, temp SQLite, no action rate limit."""
    return Settings(database_url=sqlite_url, deepseek_api_key=None, llm_backend="",
                    action_rate_per_minute=0)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def at_lifespans_edge(world: World) -> int:
    """The last day of a 练气 cultivator's lifespan (one more day of cultivation ends it)."""
    return (world.realms[0].lifespan - world.rules.start_age) * DAYS_PER_YEAR - 1


def at_the_peak(world: World) -> dict[str, Any]:
    """渡劫圆满 with the qi to ascend (the climb there takes thousands of actions)."""
    top = world.realms[-1]
    last = len(top.stages) - 1
    return {"realm": top.id, "stage": last, "qi": top.stages[last].qi_required,
            "spirit_stones": 5000}


async def test_old_age_ends_the_run_and_the_hall_lists_it(api: ApiClient, settings: Settings,
                                                          world: World) -> None:
    pid, token, _ = await api.create_player("寿尽翁")
    seed_state(settings, pid, day=at_lifespans_edge(world), spirit_stones=300)
    key = {"Idempotency-Key": "last-breath"}
    r = await api.act(pid, token, {"type": "cultivate"}, headers=key)
    assert r.status == 200, r.text
    player = r.json["player"]
    assert player["ended"] and player["end_cause"] == "old_age"
    assert any(e["type"] == "ended" for e in r.json["outcome"]["events"])
    again = await api.act(pid, token, {"type": "cultivate"}, headers=key)  # a replay
    assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
    for action in ({"type": "cultivate"}, {"type": "rest"}, {"type": "explore"}):
        refused = await api.act(pid, token, action)
        assert refused.status == 422, refused.text
        assert refused.json["error"]["code"] == "ended"
        assert "寿元耗尽" in refused.json["error"]["message"]
    died = await api.get("/api/hall", query={"kind": "died"})
    assert died.status == 200, died.text
    mine = [e for e in died.json["entries"] if e["name"] == "寿尽翁"]
    assert len(mine) == 1  # recorded once, the replay changed nothing
    entry = mine[0]
    assert entry["kind"] == "died" and entry["cause"] == "old_age"
    assert entry["age"] == world.realms[0].lifespan and entry["day"] == player["day"]
    assert entry["realm"] and entry["cause_text"] == "寿元耗尽，坐化"
    assert "player_id" not in entry and "legacy" not in entry and pid not in died.text
    ascended = await api.get("/api/hall")
    assert ascended.json["kind"] == "ascended"
    assert all(e["name"] != "寿尽翁" for e in ascended.json["entries"])

    # An heir inherits once: the predecessor proves it by its token.
    heir = await api.post("/api/players", json_body={
        "name": "承志", "heir_of": {"player_id": pid, "token": token}})
    assert heir.status == 201, heir.text
    born = heir.json["player"]
    assert born["legacy_from"] == "寿尽翁"
    inherited = int(300 * world.rules.stakes.legacy_stone_share)
    start = world.rules.start_spirit_stones
    assert born["spirit_stones"] == start + min(world.rules.stakes.legacy_stone_cap, inherited)
    log = await api.get(f"/api/players/{born['id']}/log", headers=auth(heir.json["token"]))
    (first,) = log.json["entries"]
    assert any(e["type"] == "inherited" for e in first["outcome"]["events"])
    twice = await api.post("/api/players", json_body={
        "name": "再承", "heir_of": {"player_id": pid, "token": token}})
    assert twice.status == 409 and twice.json["error"]["code"] == "legacy_claimed"
    assert "Retry-After" not in twice.headers


async def test_ascension_enters_the_hall_of_the_ascended(api: ApiClient, settings: Settings,
                                                         world: World) -> None:
    pid, token, _ = await api.create_player("飞升客")
    seed_state(settings, pid, **at_the_peak(world))
    r = await api.act(pid, token, {"type": "ascend"})
    assert r.status == 200, r.text
    assert r.json["player"]["end_cause"] == "ascended"
    hall = await api.get("/api/hall", query={"limit": 5})
    (entry,) = [e for e in hall.json["entries"] if e["name"] == "飞升客"]
    assert entry["kind"] == "ascended" and entry["cause"] == "ascended"
    assert entry["realm"].startswith(world.realms[-1].name)
    heir = await api.post("/api/players", json_body={
        "name": "后来人", "heir_of": {"player_id": pid, "token": token}})
    assert heir.status == 201, heir.text
    assert heir.json["player"]["qi"] == world.rules.stakes.legacy_ascended_qi or \
        heir.json["player"]["stage"] > 0  # the inherited qi may already fill a stage


async def test_an_heir_needs_an_ended_run_and_its_token(api: ApiClient) -> None:
    pid, token, _ = await api.create_player("尚在")
    other = await api.create_player("旁人")
    cases = [({"player_id": pid, "token": other[1]}, 404, "predecessor_not_found"),
             ({"player_id": "nobody", "token": token}, 404, "predecessor_not_found"),
             ({"player_id": pid, "token": token}, 422, "not_ended")]
    for heir_of, status, code in cases:
        r = await api.post("/api/players", json_body={"name": "承志", "heir_of": heir_of})
        assert r.status == status, r.text
        assert r.json["error"]["code"] == code
    bad = await api.post("/api/players", json_body={"name": "承志", "heir_of": {"x": 1}})
    assert bad.status == 400


async def test_a_bad_name_does_not_spend_the_legacy(api: ApiClient, settings: Settings,
                                                    world: World) -> None:
    pid, token, _ = await api.create_player("寿尽翁")
    seed_state(settings, pid, day=at_lifespans_edge(world))
    assert (await api.act(pid, token, {"type": "cultivate"})).json["player"]["ended"]
    for name in ("长" * 25, "   ", "\u200b"):  # refused before anything is claimed
        r = await api.post("/api/players", json_body={
            "name": name, "heir_of": {"player_id": pid, "token": token}})
        assert r.status == 400, r.text
    ok = await api.post("/api/players", json_body={
        "name": "承志", "heir_of": {"player_id": pid, "token": token}})
    assert ok.status == 201, ok.text


async def test_a_failed_creation_does_not_spend_the_legacy(api: ApiClient, settings: Settings,
                                                            world: World) -> None:
    """The database fails the heir's insert after the claim: both go back together, so the
    legacy is still there for the next try."""
    import sqlite3

    pid, token, _ = await api.create_player("寿尽翁")
    seed_state(settings, pid, day=at_lifespans_edge(world), spirit_stones=400)
    assert (await api.act(pid, token, {"type": "cultivate"})).json["player"]["ended"]
    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:  # the insert fails inside the claim's transaction
        # (A trigger reading a table that is not there: an operational error, not a conflict.)
        conn.execute("create trigger no_players before insert on players "
                     "begin select * from gone; end")
    heir_of = {"player_id": pid, "token": token}
    failed = await api.post("/api/players", json_body={"name": "承志", "heir_of": heir_of})
    assert failed.status == 503, failed.text
    assert failed.json["error"]["code"] == "store_unavailable"
    with sqlite3.connect(path) as conn:
        conn.execute("drop trigger no_players")
        (heir,) = conn.execute("select heir_id from hall where player_id = ?", (pid,)).fetchone()
    assert heir is None
    ok = await api.post("/api/players", json_body={"name": "承志", "heir_of": heir_of})
    assert ok.status == 201, ok.text
    assert ok.json["player"]["legacy_from"] == "寿尽翁"
    again = await api.post("/api/players", json_body={"name": "承志", "heir_of": heir_of})
    assert again.status == 409 and again.json["error"]["code"] == "legacy_claimed"


async def test_creation_tells_its_opening_story(api: ApiClient) -> None:
    pid, token, created = await api.create_player("石穿空")
    assert created["narration"]["text"] and created["narration"]["degraded"] is True
    assert created["narration_task"] is None
    assert {"player", "version", "token"} <= set(created)
    log = await api.get(f"/api/players/{pid}/log", headers=auth(token))
    (entry,) = log.json["entries"]
    assert entry["seq"] == 0 and entry["narration"] == created["narration"]["text"]
    assert "石穿空" in entry["narration"]


async def test_hall_and_heirs_are_the_same_on_both_apps(pair: AppPair, settings: Settings,
                                                        world: World) -> None:
    pid, token, _ = await pair.flask.create_player("寿尽翁")
    seed_state(settings, pid, day=at_lifespans_edge(world))
    await pair.same("POST", f"/api/players/{pid}/actions", json_body={"type": "cultivate"},
                    headers={**auth(token), "Idempotency-Key": "k1"})
    await pair.same("POST", f"/api/players/{pid}/actions", json_body={"type": "rest"},
                    headers=auth(token))
    for query in ({}, {"kind": "died"}, {"kind": "died", "limit": 1}, {"kind": "nope"},
                  {"limit": 0}, {"limit": "x"}):
        r = await pair.same("GET", "/api/hall", query=query)
    assert r.status == 400
    for heir_of in ({"player_id": pid, "token": "wrong"}, {"player_id": pid}):
        await pair.same("POST", "/api/players", json_body={"name": "承志", "heir_of": heir_of})
    first = await pair.flask.post("/api/players", json_body={
        "name": "承志", "heir_of": {"player_id": pid, "token": token}})
    assert first.status == 201
    await pair.same("POST", "/api/players", json_body={
        "name": "承志", "heir_of": {"player_id": pid, "token": token}})


async def test_the_ending_action_and_its_hall_record_commit_together(
        api: ApiClient, settings: Settings, world: World) -> None:
    """The database fails the hall's insert: the action that ended the run goes back with it
    (the run is not over without its record), and the resend applies it once, recorded."""
    import sqlite3

    pid, token, _ = await api.create_player("寿尽翁")
    seed_state(settings, pid, day=at_lifespans_edge(world))
    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:  # an operational error, as a full disk would give
        conn.execute("create trigger no_hall before insert on hall begin select * from gone; end")
    key = {"Idempotency-Key": "last-breath"}
    failed = await api.act(pid, token, {"type": "cultivate"}, headers=key)
    assert failed.status == 503 and failed.json["error"]["code"] == "store_unavailable"
    me = await api.get(f"/api/players/{pid}", headers=auth(token))
    assert not me.json["player"]["ended"] and me.json["player"]["turn"] == 0
    with sqlite3.connect(path) as conn:
        conn.execute("drop trigger no_hall")
    done = await api.act(pid, token, {"type": "cultivate"}, headers=key)
    assert done.status == 200 and done.json["player"]["ended"], done.text
    assert done.headers.get("Idempotent-Replayed") is None  # applied now, for the first time
    entries = (await api.get("/api/hall", query={"kind": "died"})).json["entries"]
    assert [e["name"] for e in entries] == ["寿尽翁"]


async def test_a_replay_records_a_run_the_first_answer_did_not(api: ApiClient,
                                                               settings: Settings,
                                                               world: World) -> None:
    """A crash between the action's commit and its hall record: the retry (same key) records
    it, once."""
    import sqlite3

    pid, token, _ = await api.create_player("寿尽翁")
    seed_state(settings, pid, day=at_lifespans_edge(world))
    key = {"Idempotency-Key": "crash-after-commit"}
    first = await api.act(pid, token, {"type": "cultivate"}, headers=key)
    assert first.json["player"]["ended"]
    with sqlite3.connect(settings.database_url.removeprefix("sqlite:///")) as conn:
        assert conn.execute("delete from hall where player_id = ?", (pid,)).rowcount == 1
    assert (await api.get("/api/hall", query={"kind": "died"})).json["entries"] == []
    again = await api.act(pid, token, {"type": "cultivate"}, headers=key)
    assert again.status == 200 and again.body == first.body
    entries = (await api.get("/api/hall", query={"kind": "died"})).json["entries"]
    assert [e["name"] for e in entries] == ["寿尽翁"]


async def test_two_heirs_at_once_one_inherits(pair: AppPair, settings: Settings,
                                              world: World) -> None:
    import asyncio

    pid, token, _ = await pair.quart.create_player("寿尽翁")
    seed_state(settings, pid, day=at_lifespans_edge(world), spirit_stones=400)
    await pair.quart.act(pid, token, {"type": "cultivate"})
    body = {"heir_of": {"player_id": pid, "token": token}}
    answers = await asyncio.gather(*(pair.quart.post("/api/players",
                                                     json_body={"name": f"承{i}", **body})
                                     for i in range(6)))
    assert sorted(r.status for r in answers) == [201] + [409] * 5
    (heir,) = [r.json["player"] for r in answers if r.status == 201]
    assert heir["legacy_from"] == "寿尽翁"
