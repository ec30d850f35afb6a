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
from shared.usecases.talk_memory import MemoryPolicy, fold_overflow, memory_write, recall

NPC = "li_laohan"
STATE = {"name": "韩立"}  # the store does not look inside the state


def _summarise(req: NarrationRequest) -> UseCase[Any]:
    told = yield from fx.Narrate(req)  # offline: the digest
    return told


def _exchanges(start: int, n: int) -> list[Any]:
    return [{"player": f"问{i}", "npc": f"答{i}", "turn": i} for i in range(start, start + n)]


def _talk_request(text: str) -> NarrationRequest:
    return NarrationRequest("talk", {"npc": "李老汉", "npc_id": NPC}, text)


def _seed(url: str, talks: int = 0) -> None:
    """Player ``p1`` with its creation entry and ``talks`` talk entries (seq 1..talks)."""
    from shared.store import Commit, NewLogEntry

    store = open_store(url)
    store.init_schema()
    store.create_player("p1", "h", STATE, NewLogEntry(0, {"type": "create"}, {}, {}))
    for seq in range(1, talks + 1):
        store.transact_player("p1", lambda row, recent, prior, seq=seq: Commit(
            STATE, NewLogEntry(seq, {"type": "talk", "target": NPC}, {}, {})))
    store.close()


def test_a_lost_compare_and_set_keeps_both_folds(world: World, store_url: str) -> None:
    """Another writer folds between this fold's read and its write: this one loses, rebuilds
    on the winner's summary, and folds its own exchanges in; none is dropped or doubled."""
    _seed(store_url)
    store = open_store(store_url)
    settings = Settings(database_url=store_url, deepseek_api_key=None)
    handler = SyncEffects(store, Narrator(world, settings))
    policy = MemoryPolicy(exchanges=2, summary_chars=1000)
    real = store.fold_conversation
    raced: list[bool] = []

    def another_writer_first(player_id: str, npc_id: str, summary: str, previous: str,
                             turns: Any) -> bool:
        if not raced:  # someone else's fold lands between our read and our write
            raced.append(True)
            assert real(player_id, npc_id, "第0回，别人先写", previous, [])
        return real(player_id, npc_id, summary, previous, turns)

    store.fold_conversation = another_writer_first  # type: ignore[method-assign]
    try:
        for exchange in _exchanges(1, 4):
            store.append_exchange("p1", NPC, exchange, 99)
        stored = drive_sync(fold_overflow("p1", NPC, "李老汉", policy, _summarise), handler)
        conv = store.get_conversation("p1", NPC)
        assert conv.summary == stored and raced
        assert "别人先写" in stored and "问1" in stored and "问2" in stored
        assert stored.count("问1") == 1
        assert [e["turn"] for e in conv.exchanges] == [3, 4]
    finally:
        store.close()


async def test_recall_and_remember_on_the_async_face(world: World, store_url: str) -> None:
    """Six talks through recall and a MemoryWrite: each prompt carries the last two
    exchanges, and the summary holds the older ones within its bound."""
    _seed(store_url, talks=6)
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
            talk = memory_write("p1", turn, req, policy, _summarise)
            assert talk is not None
            assert await drive_async(talk.save(f"李老汉答第{turn}问。", False, False),
                                     handler.__call__)
            await drive_async(talk.fold(), handler.__call__)
        conv = await store.get_conversation("p1", NPC)
        assert [e["turn"] for e in conv.exchanges] == [5, 6]
        assert 0 < len(conv.summary) <= 50 and "第4回" in conv.summary
        (entry,) = await store.list_log("p1", 1)
        assert entry.seq == 6 and entry.narration == "李老汉答第6问。"
    finally:
        await store.close()
