"""The worker's talk narration remembers (issue 10): in process, on the worker's resources."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.config import Settings
from shared.tasks.llm_tasks import narrate_entry
from shared.tasks.resources import WorkerResources
from shared.usecases import GameContext, SyncEffects, drive_sync
from shared.usecases.actions import commit_action
from shared.usecases.identity import Identity
from shared.usecases.players import create_player

IDENTITY = Identity("p-talker", "pt_talker-token", 5)
NPC = "li_laohan"


def _resources(settings: Settings) -> Iterator[WorkerResources]:
    res = WorkerResources(settings)
    res.store.init_schema()
    try:
        yield res
    finally:
        res.close()


@pytest.fixture
def res(sqlite_url: str) -> Iterator[WorkerResources]:
    """Worker resources on a fresh SQLite store, offline narrator."""
    yield from _resources(Settings(database_url=sqlite_url, deepseek_api_key=None,
                                   llm_backend="celery", npc_memory_exchanges=2,
                                   npc_summary_chars=60))


def _talk(res: WorkerResources, text: str, *, create: bool = False) -> Any:
    """A committed talk whose prose is owed (as in Celery mode)."""
    ctx = GameContext(res.world, res.settings, deferred_narration=True)
    handler = SyncEffects(res.store, res.narrator)
    if create:
        drive_sync(create_player(ctx, "韩立", IDENTITY), handler)
    return drive_sync(commit_action(ctx, IDENTITY.player_id, IDENTITY.token,
                                    {"type": "talk", "target": NPC, "text": text}), handler)


def test_the_worker_saves_the_reply_once_and_folds_the_summary(res: WorkerResources) -> None:
    pid = IDENTITY.player_id
    committed = _talk(res, "老丈，可有丹药？", create=True)
    told = narrate_entry(res, pid, committed.seq, committed.narration_request, pid)
    again = narrate_entry(res, pid, committed.seq, committed.narration_request, pid)  # redelivery
    assert again["replayed"] is True
    conv = res.store.get_conversation(pid, NPC)
    assert conv.exchanges == [{"player": "老丈，可有丹药？", "npc": told["text"],
                               "turn": committed.seq}]
    second = _talk(res, "再会")
    told2 = narrate_entry(res, pid, second.seq, second.narration_request, pid)
    assert "上回你问起丹药" in told2["text"]  # the worker's prompt book saw the memory
    for i in range(4):
        c = _talk(res, f"第{i}回叨扰，老丈莫怪" * 2)
        narrate_entry(res, pid, c.seq, c.narration_request, pid)
    conv = res.store.get_conversation(pid, NPC)
    assert len(conv.exchanges) == 2 and 0 < len(conv.summary) <= 60


def test_the_worker_sends_the_memory_upstream(sqlite_url: str, fake: Any) -> None:
    settings = fake.settings(database_url=sqlite_url, llm_backend="celery", llm_max_retries=0)
    for res in _resources(settings):
        pid = IDENTITY.player_id
        first = _talk(res, "你好", create=True)
        told = narrate_entry(res, pid, first.seq, first.narration_request, pid)
        assert told["degraded"] is False
        second = _talk(res, "又见面了")
        narrate_entry(res, pid, second.seq, second.narration_request, pid)
        last = fake.requests()[-1]["messages"]
        assert [m["role"] for m in last] == ["system", "system", "user", "assistant", "user"]
        assert last[3]["content"] == told["text"]


def test_a_strict_worker_folds_offline_when_the_summary_call_fails(sqlite_url: str,
                                                                   fake: Any) -> None:
    settings = fake.settings(database_url=sqlite_url, llm_backend="celery", llm_max_retries=0,
                             npc_memory_exchanges=1, npc_summary_chars=30)
    fake.configure(faults=["none", "none", "500"])  # two talks, then the summary refresh
    for res in _resources(settings):
        pid = IDENTITY.player_id
        first = _talk(res, "老丈，山里可有妖兽出没？", create=True)
        narrate_entry(res, pid, first.seq, first.narration_request, pid, strict=True)
        second = _talk(res, "多谢老丈指点，晚辈告辞")
        told = narrate_entry(res, pid, second.seq, second.narration_request, pid, strict=True)
        assert told["degraded"] is False
        assert fake.stats()["statuses"] == {"200": 2, "500": 1}
        conv = res.store.get_conversation(pid, NPC)
        assert 0 < len(conv.summary) <= 30 and len(conv.exchanges) == 1
