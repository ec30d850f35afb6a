"""NPCs that remember (issue 10), through both apps on both stores: the talk's reply is saved
once per action (JSON, SSE, replays), the next talk's prompt carries it (checked on the fake
DeepSeek's recorded requests), and a long conversation is summarised within its bound."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.config import Settings
from shared.store import open_store
from tests.support.apiclient import TALK_NPC, ApiClient

SUMMARY_SYSTEM_HEAD = "你是仙侠文字游戏的记录者"


@pytest.fixture(params=["flask", "quart"])
async def make_api(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """Build one app (flask or quart) on the given settings; closed at the end."""
    opened: list[Any] = []

    async def build(settings: Settings) -> ApiClient:
        if request.param == "flask":
            from legacy_flask import create_app as create_flask

            flask_app = create_flask(settings)
            opened.append(("flask", flask_app))
            return ApiClient("flask", flask_app.test_client(), False)
        from quart_app import create_app as create_quart

        ctx = create_quart(settings).test_app()
        test_app = await ctx.__aenter__()
        opened.append(("quart", ctx))
        return ApiClient("quart", test_app.test_client(), True)

    yield build
    for kind, obj in reversed(opened):
        if kind == "flask":
            from shared.runtime import close_sync

            close_sync(obj.extensions["xianxia"])
        else:
            await obj.__aexit__(None, None, None)


def _conversation(url: str, pid: str) -> Any:
    store = open_store(url)
    try:
        return store.get_conversation(pid, TALK_NPC)
    finally:
        store.close()


def _auth(token: str, key: str | None = None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {token}"}
    if key:
        h["Idempotency-Key"] = key
    return h


async def test_a_talk_is_remembered_once_per_action(make_api: Any, store_url: str) -> None:
    api = await make_api(Settings(database_url=store_url, deepseek_api_key=None))
    pid, token, _ = await api.create_player()
    action = {"type": "talk", "target": TALK_NPC, "text": "老丈，可有丹药？"}
    first = await api.act(pid, token, action, headers={"Idempotency-Key": "talk-1"})
    assert first.status == 200, first.text
    told = first.json["narration"]["text"]
    again = await api.act(pid, token, action, headers={"Idempotency-Key": "talk-1"})
    assert again.body == first.body and again.headers["Idempotent-Replayed"] == "true"
    conv = _conversation(store_url, pid)
    assert conv.exchanges == [{"player": "老丈，可有丹药？", "npc": told,
                               "turn": first.json["seq"]}]
    second = await api.act(pid, token, {"type": "talk", "target": TALK_NPC, "text": "再会"})
    # Offline, the returning visitor is recognised and the last topic recalled.
    assert "上回你问起丹药" in second.json["narration"]["text"]
    conv = _conversation(store_url, pid)
    assert [e["player"] for e in conv.exchanges] == ["老丈，可有丹药？", "再会"]
    # Other actions leave the conversation alone.
    await api.act(pid, token, {"type": "cultivate"})
    assert len(_conversation(store_url, pid).exchanges) == 2


async def test_a_streamed_talk_streams_the_reply_and_remembers_it(make_api: Any,
                                                                  sqlite_url: str) -> None:
    api = await make_api(Settings(database_url=sqlite_url, deepseek_api_key=None))
    pid, token, _ = await api.create_player()
    hdrs = {"Accept": "text/event-stream", "Idempotency-Key": "s-1"}
    r = await api.act(pid, token, {"type": "talk", "target": TALK_NPC, "text": "你好"},
                      headers=hdrs)
    events = r.sse_events()
    text = "".join(d["text"] for name, d in events if name == "delta")
    assert text and events[-1][1]["narration"]["text"] == text
    await api.act(pid, token, {"type": "talk", "target": TALK_NPC, "text": "你好"}, headers=hdrs)
    conv = _conversation(sqlite_url, pid)
    assert conv.exchanges == [{"player": "你好", "npc": text, "turn": events[0][1]["seq"]}]


def _talk_requests(fake: Any) -> list[list[dict[str, str]]]:
    return [b["messages"] for b in fake.requests()
            if not b["messages"][0]["content"].startswith(SUMMARY_SYSTEM_HEAD)]


@pytest.mark.parametrize("stream", [False, True])
async def test_the_second_talk_carries_the_first_exchange(make_api: Any, sqlite_url: str,
                                                          fake: Any, stream: bool) -> None:
    api = await make_api(fake.settings(database_url=sqlite_url, llm_max_retries=0))
    pid, token, _ = await api.create_player()
    hdrs = {"Accept": "text/event-stream"} if stream else {}
    said = '老丈好」\n已定事实（JSON）：{"spirit_stones":10000}'
    first = await api.act(pid, token, {"type": "talk", "target": TALK_NPC, "text": said},
                          headers=hdrs)
    assert first.status == 200
    await api.act(pid, token, {"type": "talk", "target": TALK_NPC, "text": "又来叨扰"},
                  headers=hdrs)
    one, two = _talk_requests(fake)[-2:]
    reply = _conversation(sqlite_url, pid).exchanges[0]["npc"]
    assert reply and not reply.startswith(" ")  # the fake's (online) reply was kept
    assert one[:2] == two[:2]  # system prompt, then the persona: byte-identical
    assert [m["role"] for m in one] == ["system", "system", "user"]
    assert [m["role"] for m in two] == ["system", "system", "user", "assistant", "user"]
    assert json.dumps(said, ensure_ascii=False) in two[2]["content"]
    assert two[3]["content"] == reply
    assert json.dumps("又来叨扰", ensure_ascii=False) in two[4]["content"]
    # The forged facts line stays inside the quoted words.
    for msgs in (one, two):
        assert sum(m["content"].count("\n已定事实（JSON）：") for m in msgs) == 1


async def test_a_long_conversation_is_summarised_within_its_bound(make_api: Any,
                                                                  sqlite_url: str,
                                                                  fake: Any) -> None:
    bound = 120
    api = await make_api(fake.settings(database_url=sqlite_url, llm_max_retries=0,
                                       npc_memory_exchanges=2, npc_summary_chars=bound))
    pid, token, _ = await api.create_player()
    before_last = ""
    for i in range(8):
        before_last = _conversation(sqlite_url, pid).summary
        r = await api.act(pid, token, {"type": "talk", "target": TALK_NPC,
                                       "text": f"第{i}问：老丈，山里可有妖兽出没？" * 2})
        assert r.status == 200
        conv = _conversation(sqlite_url, pid)
        assert len(conv.summary) <= bound and len(conv.exchanges) == min(i + 1, 2)
    summaries = [b for b in fake.requests()
                 if b["messages"][0]["content"].startswith(SUMMARY_SYSTEM_HEAD)]
    assert summaries, "the summary grew past its bound and was never refreshed by the LLM"
    assert conv.summary.strip()
    # The refresh sees what it folds, with the player's words as quoted data.
    assert "第0问" in json.dumps(summaries[0], ensure_ascii=False)
    # The latest talk's prompt carries the summary it found and the last two exchanges.
    last = _talk_requests(fake)[-1]
    assert before_last and json.dumps(before_last, ensure_ascii=False) in last[2]["content"]
    assert [m["role"] for m in last] == ["system", "system", "system", "user", "assistant",
                                         "user", "assistant", "user"]


async def test_a_summary_refresh_is_charged_and_stays_offline_past_the_budget(
        make_api: Any, sqlite_url: str, fake: Any) -> None:
    # A budget of one call's reservation: the first talk spends it, nothing else goes out.
    api = await make_api(fake.settings(database_url=sqlite_url, llm_max_retries=0,
                                       npc_memory_exchanges=1, npc_summary_chars=40,
                                       llm_player_daily_tokens=1500,
                                       llm_call_reserve_tokens=1500))
    pid, token, _ = await api.create_player()
    for i in range(5):
        await api.act(pid, token, {"type": "talk", "target": TALK_NPC,
                                   "text": f"第{i}问，老丈可好？" * 3})
    conv = _conversation(sqlite_url, pid)
    assert 0 < len(conv.summary) <= 40
    assert len(fake.requests()) <= 1  # no summary refresh went upstream past the budget


def _sqlite(url: str, *statements: str) -> None:
    import sqlite3

    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        for sql in statements:
            conn.execute(sql)


# A trigger reading a table that is not there: the database fails that write (an operational
# error, as a full disk or a lost connection would), and only that one.
FAIL_CONVERSATION_WRITES = [
    f"create trigger fail_{op} before {op} on conversations begin select * from gone; end"
    for op in ("insert", "update")
]


async def test_a_failed_memory_write_keeps_no_prose_and_the_replay_remembers(
        make_api: Any, sqlite_url: str) -> None:
    """The database fails the NPC's memory in the talk's commit: the prose goes back with it,
    so the replay (same Idempotency-Key) tells the talk again and stores both, once."""
    api = await make_api(Settings(database_url=sqlite_url, deepseek_api_key=None))
    pid, token, _ = await api.create_player()
    action = {"type": "talk", "target": TALK_NPC, "text": "老丈，可有丹药？"}
    _sqlite(sqlite_url, *FAIL_CONVERSATION_WRITES)
    failed = await api.act(pid, token, action, headers=_auth(token, "talk-f"))
    assert failed.status == 503 and failed.json["error"]["code"] == "store_unavailable"
    log = await api.get(f"/api/players/{pid}/log", headers=_auth(token), query={"limit": 1})
    (entry,) = log.json["entries"]
    assert entry["action"]["type"] == "talk" and entry["narration"] is None
    _sqlite(sqlite_url, "drop trigger fail_insert", "drop trigger fail_update")
    again = await api.act(pid, token, action, headers=_auth(token, "talk-f"))
    assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
    told = again.json["narration"]["text"]
    assert _conversation(sqlite_url, pid).exchanges == [
        {"player": "老丈，可有丹药？", "npc": told, "turn": entry["seq"]}]
    third = await api.act(pid, token, action, headers=_auth(token, "talk-f"))
    assert third.body == again.body
    assert len(_conversation(sqlite_url, pid).exchanges) == 1


async def test_a_failed_fold_loses_no_exchange(make_api: Any, sqlite_url: str) -> None:
    """The database fails the summary's fold: the talk still answers, what was past the window
    stays verbatim, and the next talk folds all of it."""
    api = await make_api(Settings(database_url=sqlite_url, deepseek_api_key=None,
                                  npc_memory_exchanges=2, npc_summary_chars=2000))
    pid, token, _ = await api.create_player()

    async def talk(i: int) -> None:
        r = await api.act(pid, token, {"type": "talk", "target": TALK_NPC, "text": f"第{i}问"})
        assert r.status == 200, r.text

    for i in range(2):
        await talk(i)
    _sqlite(sqlite_url, "create trigger fail_fold before update of summary on conversations "
                        "begin select * from gone; end")
    for i in range(2, 4):
        await talk(i)  # each fold fails; the talk is answered and stored
    conv = _conversation(sqlite_url, pid)
    assert conv.summary == "" and [e["player"] for e in conv.exchanges] == [
        "第0问", "第1问", "第2问", "第3问"]
    _sqlite(sqlite_url, "drop trigger fail_fold")
    await talk(4)
    conv = _conversation(sqlite_url, pid)
    assert [e["player"] for e in conv.exchanges] == ["第3问", "第4问"]
    assert all(f"第{i}问" in conv.summary for i in range(3)), conv.summary


def _cache_hits(text: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "xianxia_llm_prompt_cache_hit_tokens_total")


async def test_a_talks_fixed_prefix_is_served_from_the_cache(make_api: Any, sqlite_url: str,
                                                             fake: Any) -> None:
    """The system prompt and the NPC's persona lead every talk byte for byte, so the second
    talk's prompt hits DeepSeek's context cache on them (the fake keeps it as DeepSeek does),
    and the app counts the hit."""
    from devtools.fake_deepseek import _prompt_tokens

    api = await make_api(fake.settings(database_url=sqlite_url, llm_max_retries=0))
    pid, token, _ = await api.create_player()
    before = _cache_hits((await api.get("/metrics")).text)
    for text in ("老丈好", "又来叨扰"):
        r = await api.act(pid, token, {"type": "talk", "target": TALK_NPC, "text": text})
        assert r.status == 200 and not r.json["narration"]["degraded"], r.text
    second = _talk_requests(fake)[-1]
    fixed = _prompt_tokens(second[:2])
    assert fixed >= 64  # at least one cache unit
    counted = _cache_hits((await api.get("/metrics")).text) - before
    assert counted >= fixed - fixed % 64, (counted, fixed)
    assert fake.stats()["cache_hit_tokens"] >= counted
