"""Player routes, run against both apps (the ``api`` fixture is parametrized)."""

from __future__ import annotations

import pytest

from tests.support.apiclient import ApiClient


async def test_create_returns_player_and_token_once(api: ApiClient) -> None:
    r = await api.post("/api/players", json_body={"name": "  韩立 "})
    assert r.status == 201
    assert r.headers["X-App"] == api.app_name
    body = r.json
    assert body["player"]["name"] == "韩立"
    assert body["token"].startswith("pt_")
    assert body["version"] == 0
    assert r.headers["Location"] == f"/api/players/{body['player']['id']}"
    again = await api.get(f"/api/players/{body['player']['id']}",
                          headers={"Authorization": f"Bearer {body['token']}"})
    assert again.status == 200
    assert "token" not in again.json
    assert again.json["player"] == body["player"]


async def test_action_changes_state_and_narrates_offline(api: ApiClient) -> None:
    pid, token, created = await api.create_player()
    r = await api.act(pid, token, {"type": "cultivate"})
    assert r.status == 200, r.text
    body = r.json
    assert body["seq"] == 1
    assert body["version"] == 1
    assert body["player"]["turn"] == 1
    assert body["player"]["qi"] > created["player"]["qi"]
    assert body["outcome"]["action"] == "cultivate"
    assert body["outcome"]["summary"]
    assert body["narration"]["degraded"] is True  # no API key: offline narrator
    assert body["narration"]["text"]
    assert body["narration_task"] is None


async def test_token_rules(api: ApiClient) -> None:
    pid, token, _ = await api.create_player()
    _, other_token, _ = await api.create_player("南宫婉")
    missing = await api.post(f"/api/players/{pid}/actions", json_body={"type": "rest"})
    assert missing.status == 401
    assert missing.json["error"]["code"] == "unauthorized"
    # Another player's token is answered exactly like an unknown id (issue 11 item 6): the
    # answer never tells whether a player exists.
    wrong = await api.act(pid, other_token, {"type": "rest"})
    assert wrong.status == 404
    assert wrong.json["error"]["code"] == "player_not_found"
    peek = await api.get(f"/api/players/{pid}", headers={"Authorization": f"Bearer {other_token}"})
    assert peek.status == 404
    log = await api.get(f"/api/players/{pid}/log",
                        headers={"Authorization": f"Bearer {other_token}"})
    assert log.status == 404
    unknown = await api.act("0" * 32, token, {"type": "rest"})
    assert unknown.status == 404
    assert unknown.body == wrong.body == peek.body == log.body
    # The refused requests changed nothing.
    me = await api.get(f"/api/players/{pid}", headers={"Authorization": f"Bearer {token}"})
    assert me.json["version"] == 0


async def test_idempotency_key_replays_first_result(api: ApiClient) -> None:
    pid, token, _ = await api.create_player()
    key = {"Idempotency-Key": "turn-1-abc"}
    first = await api.act(pid, token, {"type": "cultivate"}, headers=key)
    second = await api.act(pid, token, {"type": "cultivate"}, headers=key)
    assert first.status == second.status == 200
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert second.json == first.json
    me = await api.get(f"/api/players/{pid}", headers={"Authorization": f"Bearer {token}"})
    assert me.json["version"] == 1
    assert me.json["player"]["turn"] == 1
    bad = await api.act(pid, token, {"type": "rest"}, headers={"Idempotency-Key": "x" * 200})
    assert bad.status == 400
    assert bad.json["error"]["code"] == "bad_idempotency_key"


async def test_rules_refusal_is_422_and_changes_nothing(api: ApiClient) -> None:
    pid, token, _ = await api.create_player()
    r = await api.act(pid, token, {"type": "breakthrough"})
    assert r.status == 422
    assert r.json["error"]["code"] == "not_enough_qi"
    travel = await api.act(pid, token, {"type": "travel", "target": "no-such-place"})
    assert travel.status == 422
    me = await api.get(f"/api/players/{pid}", headers={"Authorization": f"Bearer {token}"})
    assert me.json["version"] == 0


async def test_log_is_paginated_newest_first(api: ApiClient) -> None:
    pid, token, _ = await api.create_player()
    for _ in range(5):
        assert (await api.chat(pid, token)).status == 200
    auth = {"Authorization": f"Bearer {token}"}
    page1 = await api.get(f"/api/players/{pid}/log", headers=auth, query={"limit": 3})
    assert page1.status == 200
    seqs = [e["seq"] for e in page1.json["entries"]]
    assert seqs == [5, 4, 3]
    assert all(e["narration"] for e in page1.json["entries"])
    page2 = await api.get(f"/api/players/{pid}/log", headers=auth,
                          query={"limit": 3, "before": page1.json["next_before"]})
    assert [e["seq"] for e in page2.json["entries"]] == [2, 1, 0]
    assert page2.json["entries"][-1]["action"]["type"] == "create"
    bad = await api.get(f"/api/players/{pid}/log", headers=auth, query={"limit": "lots"})
    assert bad.status == 400
    assert "limit" in bad.json["error"]["message"]


async def test_streamed_action_sends_outcome_deltas_done(api: ApiClient) -> None:
    pid, token, _ = await api.create_player()
    r = await api.act(pid, token, {"type": "cultivate"}, headers={"Accept": "text/event-stream"})
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/event-stream")
    events = r.sse_events()
    names = [name for name, _ in events]
    assert names[0] == "outcome" and names[-1] == "done"
    assert "delta" in names
    outcome = events[0][1]
    assert outcome["seq"] == 1 and outcome["narration"] is None
    text = "".join(data["text"] for name, data in events if name == "delta")
    assert events[-1][1]["narration"]["text"] == text
    log = await api.get(f"/api/players/{pid}/log", headers={"Authorization": f"Bearer {token}"})
    assert log.json["entries"][0]["narration"] == text


async def test_talk_text_is_cleaned_and_bounded(api: ApiClient) -> None:
    pid, token, _ = await api.create_player()
    too_long = await api.act(pid, token, {"type": "talk", "text": "道" * 301})
    assert too_long.status == 400
    assert "text" in too_long.json["error"]["message"]


async def test_options_say_what_the_rules_allow_now(api: ApiClient) -> None:
    pid, token, _ = await api.create_player()
    auth = {"Authorization": f"Bearer {token}"}
    r = await api.get(f"/api/players/{pid}/options", headers=auth)
    assert r.status == 200, r.text
    options = {o["type"]: o for o in r.json["options"]}
    assert r.json["version"] == 0
    assert options["cultivate"]["label"] == "修炼" and options["cultivate"]["choices"][0]["ok"]
    rest = options["rest"]["choices"][0]
    assert rest["ok"] is False and rest["reason"] and rest["code"]  # full hp: nothing to heal
    travel = {c["params"]["target"]: c for c in options["travel"]["choices"]}
    assert all(set(c["params"]) == {"target"} and c["name"] for c in travel.values())
    assert any(c["ok"] for c in travel.values()) and any(not c["ok"] for c in travel.values())
    refused = await api.act(pid, token, {"type": "rest"})  # the options told the truth
    assert refused.status == 422 and refused.json["error"]["code"] == rest["code"]
    other = await api.create_player("南宫婉")
    peek = await api.get(f"/api/players/{pid}/options",
                         headers={"Authorization": f"Bearer {other[1]}"})
    assert peek.status == 404  # as for any unknown id: existence is not told


async def test_a_taken_id_is_redrawn_not_shown_to_the_player(
        api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first identities drawn for a creation collide with a stored player: the creation
    draws fresh ones and succeeds; the player never sees the collision."""
    from shared.usecases import creation
    from shared.usecases.identity import Identity, new_identity

    taken, token, _ = await api.create_player("先来")
    drawn: list[str] = []

    def colliding() -> Identity:
        fresh = new_identity()
        ident = Identity(taken, fresh.token, fresh.seed) if len(drawn) < 2 else fresh
        drawn.append(ident.player_id)
        return ident

    monkeypatch.setattr(creation, "new_identity", colliding)
    r = await api.post("/api/players", json_body={"name": "后到"})
    assert r.status == 201, r.text
    assert drawn[:2] == [taken, taken] and r.json["player"]["id"] == drawn[2] != taken
    me = await api.get(f"/api/players/{taken}", headers={"Authorization": f"Bearer {token}"})
    assert me.json["player"]["name"] == "先来" and me.json["version"] == 0  # untouched
