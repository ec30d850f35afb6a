"""The memory use case on both store faces and both databases: a summary refresh that loses
its compare-and-set rebuilds on the winner's summary, so no exchange is dropped."""

from __future__ import annotations

from typing import Any

from shared.ai.narrator import AsyncNarrator, Narrator
from shared.config import Settings
from shared.data import World
from shared.game import NarrationRequest
from shared.game.memory import TalkRequest
from shared.store import open_async_store, open_store
from shared.usecases import AsyncEffects, SyncEffects, drive_async, drive_sync
from shared.usecases import effects as fx
from shared.usecases.effects import UseCase
from shared.usecases.talk_memory import MemoryPolicy, fold_summary, recall, remember

NPC = "li_laohan"
STATE = {"name": "韩立"}  # the store does not look inside the state


def _summarise(req: NarrationRequest) -> UseCase[Any]:
    told = yield from fx.Narrate(req)  # offline: the digest
    return told


def _exchanges(start: int, n: int) -> list[Any]:
    return [{"player": f"问{i}", "npc": f"答{i}", "turn": i} for i in range(start, start + n)]


def _talk_request(text: str) -> NarrationRequest:
    return NarrationRequest("talk", {"npc": "李老汉", "npc_id": NPC}, text)


def _seed(url: str) -> None:
    from shared.store import NewLogEntry

    store = open_store(url)
    store.init_schema()
    store.create_player("p1", "h", STATE, NewLogEntry(0, {"type": "create"}, {}, {}))
    store.close()


def test_a_lost_compare_and_set_keeps_both_folds(world: World, store_url: str) -> None:
    _seed(store_url)
    store = open_store(store_url)
    settings = Settings(database_url=store_url, deepseek_api_key=None)
    handler = SyncEffects(store, Narrator(world, settings))
    policy = MemoryPolicy(exchanges=2, summary_chars=1000)
    real = store.set_conversation_summary
    raced: list[bool] = []

    def another_writer_first(player_id: str, npc_id: str, summary: str,
                             previous: str | None = None) -> bool:
        if not raced:  # someone else folds their exchanges in between our read and write
            raced.append(True)
            real(player_id, npc_id, "第0回，别人先写", previous=previous)
        return real(player_id, npc_id, summary, previous=previous)

    store.set_conversation_summary = another_writer_first  # type: ignore[method-assign]
    try:
        store.append_exchange("p1", NPC, _exchanges(1, 1)[0], 2)
        stored = drive_sync(fold_summary("p1", NPC, "李老汉", _exchanges(5, 2), policy,
                                         _summarise), handler)
        conv = store.get_conversation("p1", NPC)
        assert conv.summary == stored
        assert "别人先写" in stored and "问5" in stored and "问6" in stored
    finally:
        store.close()


async def test_recall_and_remember_on_the_async_face(world: World, store_url: str) -> None:
    _seed(store_url)
    store = open_async_store(store_url)
    settings = Settings(database_url=store_url, deepseek_api_key=None)
    handler = AsyncEffects(store, AsyncNarrator(world, settings))
    policy = MemoryPolicy(exchanges=2, summary_chars=50)
    try:
        for turn in range(1, 7):
            req = await drive_async(recall("p1", _talk_request(f"第{turn}问，老丈可好" * 2),
                                           policy), handler.__call__)
            assert isinstance(req, TalkRequest)
            assert len(req.memory.exchanges) == min(turn - 1, 2)
            await drive_async(remember("p1", turn, req, f"李老汉答第{turn}问。", policy,
                                       _summarise), handler.__call__)
        conv = await store.get_conversation("p1", NPC)
        assert [e["turn"] for e in conv.exchanges] == [5, 6]
        assert 0 < len(conv.summary) <= 50 and "第4回" in conv.summary
    finally:
        await store.close()
