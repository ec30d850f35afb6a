"""NPC conversation memory (issue 10) and the hall of ended runs (issue 9), on every face and
database: stored, trimmed, summarised, entered once, inherited once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import inspect

from shared.store import (
    SCHEMA_VERSION,
    Conversation,
    Exchange,
    LogEntryNotFound,
    PlayerExists,
    PlayerNotFound,
    SyncStore,
    open_async_store,
    open_store,
)
from tests.store.faces import Face
from tests.store.test_faces import STATE, entry, new_player


def said(turn: int) -> Exchange:
    return {"player": f"前辈，第{turn}问。", "npc": f"小友，第{turn}答。", "turn": turn}


async def test_a_pair_that_never_talked_is_empty(store: Face) -> None:
    await new_player(store)
    assert await store.get_conversation("p1", "li_laohan") == Conversation("", [])
    assert await store.get_conversation("ghost", "li_laohan") == Conversation("", [])


async def test_exchanges_are_kept_in_order_and_the_oldest_pushed_out(store: Face) -> None:
    await new_player(store)
    for turn in (1, 2, 3):
        assert await store.append_exchange("p1", "li_laohan", said(turn), 3) == []
    assert (await store.get_conversation("p1", "li_laohan")).exchanges == [
        said(1), said(2), said(3)
    ]
    assert await store.append_exchange("p1", "li_laohan", said(4), 3) == [said(1)]
    # A smaller bound pushes out everything above it at once, oldest first.
    assert await store.append_exchange("p1", "li_laohan", said(5), 2) == [said(2), said(3)]
    talk = await store.get_conversation("p1", "li_laohan")
    assert talk == Conversation("", [said(4), said(5)])
    assert await store.append_exchange("p1", "li_laohan", said(6), 0) == [said(4), said(5), said(6)]
    assert (await store.get_conversation("p1", "li_laohan")).exchanges == []


async def test_conversations_are_per_player_and_npc(store: Face) -> None:
    await new_player(store, "p1")
    await new_player(store, "p2")
    await store.append_exchange("p1", "a", said(1), 5)
    await store.append_exchange("p1", "b", said(2), 5)
    await store.append_exchange("p2", "a", said(3), 5)
    assert (await store.get_conversation("p1", "a")).exchanges == [said(1)]
    assert (await store.get_conversation("p1", "b")).exchanges == [said(2)]
    assert (await store.get_conversation("p2", "a")).exchanges == [said(3)]


async def test_summary_is_stored_and_compare_and_set(store: Face) -> None:
    await new_player(store)
    # Before any exchange: the pair is created with the summary.
    assert await store.set_conversation_summary("p1", "a", "初见，老汉指路。") is True
    await store.append_exchange("p1", "a", said(1), 5)
    talk = await store.get_conversation("p1", "a")
    assert talk == Conversation("初见，老汉指路。", [said(1)])
    assert await store.set_conversation_summary(
        "p1", "a", "再见，老汉赠丹。", previous="初见，老汉指路。"
    ) is True
    # A second refresh built on the old summary loses instead of overwriting.
    assert await store.set_conversation_summary(
        "p1", "a", "另一版本。", previous="初见，老汉指路。"
    ) is False
    talk = await store.get_conversation("p1", "a")
    assert talk.summary == "再见，老汉赠丹。" and talk.exchanges == [said(1)]
    assert await store.set_conversation_summary("p1", "a", "覆盖。") is True
    assert (await store.get_conversation("p1", "a")).summary == "覆盖。"


async def test_memory_needs_a_player_and_well_formed_exchanges(store: Face) -> None:
    with pytest.raises(PlayerNotFound):
        await store.append_exchange("ghost", "a", said(1), 5)
    with pytest.raises(PlayerNotFound):
        await store.set_conversation_summary("ghost", "a", "无")
    await new_player(store)
    bad: list[Any] = [
        {"player": "问", "npc": "答"},
        {"player": 1, "npc": "答", "turn": 1},
        {"player": "问", "npc": "答", "turn": "1"},
        {"player": "问", "npc": "答", "turn": True},
    ]
    for exchange in bad:
        with pytest.raises(ValueError):
            await store.append_exchange("p1", "a", exchange, 5)
    with pytest.raises(ValueError):
        await store.append_exchange("p1", "a", said(1), -1)
    assert await store.get_conversation("p1", "a") == Conversation("", [])
    # Extra keys are not stored: the record has exactly the three fields.
    await store.append_exchange("p1", "a", {**said(1), "secret": "x"}, 5)  # type: ignore[typeddict-unknown-key]
    assert (await store.get_conversation("p1", "a")).exchanges == [said(1)]


def check_all_accounted(kept: list[Exchange], pushed: list[list[Exchange]], n: int) -> None:
    """Every exchange landed once: either still kept or handed to exactly one caller."""
    out = [e for batch in pushed for e in batch]
    assert sorted(e["turn"] for e in [*kept, *out]) == list(range(n))
    assert len(kept) == 5


async def test_concurrent_talks_to_one_npc_each_land_once(store_url: str) -> None:
    sync = open_store(store_url)
    sync.init_schema()
    await new_player_sync(sync)
    face = open_async_store(store_url)
    n = 30
    start = threading.Barrier(n // 2)

    def from_thread(turn: int) -> list[Exchange]:
        start.wait(timeout=30)
        return sync.append_exchange("p1", "a", said(turn), 5)

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=n // 2) as threads:
        pushed = await asyncio.gather(
            *(loop.run_in_executor(threads, from_thread, t) for t in range(0, n, 2)),
            *(face.append_exchange("p1", "a", said(t), 5) for t in range(1, n, 2)),
        )
    await face.close()
    check_all_accounted(sync.get_conversation("p1", "a").exchanges, list(pushed), n)
    sync.close()


async def new_player_sync(sync: Any) -> None:
    from tests.store.test_faces import entry

    sync.create_player("p1", "h", {"counter": 0}, entry(0))


# --- the hall ---------------------------------------------------------------------------


async def test_record_legacy_once_and_list_newest_first(store: Face) -> None:
    record = {"realm": "渡劫圆满", "turns": 1234, "cause": "ascended"}
    first = await store.record_legacy("p1", "韩立", "ascended", record)
    assert (first.player_id, first.name, first.kind, first.record) == (
        "p1", "韩立", "ascended", record
    )
    assert first.heir_id is None and first.created_at.tzinfo is not None
    # A retry changes nothing, even with another body.
    again = await store.record_legacy("p1", "别名", "died", {"other": 1})
    assert again == first
    await store.record_legacy("p2", "厉飞雨", "died", {"cause": "lifespan"})
    await store.record_legacy("p3", "南宫婉", "ascended", {"cause": "ascended"})
    assert [e.player_id for e in await store.list_hall(10)] == ["p3", "p2", "p1"]
    assert [e.player_id for e in await store.list_hall(1)] == ["p3"]
    assert [e.player_id for e in await store.list_hall(10, "ascended")] == ["p3", "p1"]
    assert [e.player_id for e in await store.list_hall(10, kind="died")] == ["p2"]
    assert await store.get_legacy("p2") == (await store.list_hall(10, "died"))[0]
    assert await store.get_legacy("nobody") is None
    with pytest.raises(ValueError):
        await store.record_legacy("p4", "x", "retired", {})  # type: ignore[arg-type]


async def test_the_hall_outlives_the_player(store: Face) -> None:
    """No foreign key: a run ended by a player row that is gone stays in the hall."""
    await store.record_legacy("never-stored", "无名", "died", {})
    assert [e.name for e in await store.list_hall(5)] == ["无名"]


async def test_a_legacy_goes_to_one_heir(store: Face) -> None:
    await store.record_legacy("old", "韩立", "died", {"spirit_stones": 30})
    claimed = await store.claim_legacy("old", "heir-1")
    assert claimed is not None and claimed.heir_id == "heir-1"
    assert await store.claim_legacy("old", "heir-2") is None
    assert (await store.claim_legacy("old", "heir-1")) == claimed  # a retried creation
    assert await store.claim_legacy("nobody", "heir-1") is None
    assert (await store.get_legacy("old")).heir_id == "heir-1"


async def race_for_a_legacy(store_url: str, method: str,
                            args: Callable[[str], tuple[Any, ...]]) -> tuple[SyncStore, list[Any]]:
    """Eight threads on the sync face and eight tasks on the async face call ``method`` at
    once, heirs ``s0..s7`` and ``a0..a7`` (``args(heir)``) of one ended run: the sync store
    (open, for the checks) and the results in that order."""
    sync = open_store(store_url)
    sync.init_schema()
    sync.record_legacy("old", "韩立", "ascended", {})
    face = open_async_store(store_url)
    try:
        results = await asyncio.gather(
            *(asyncio.to_thread(getattr(sync, method), *args(f"s{n}")) for n in range(8)),
            *(getattr(face, method)(*args(f"a{n}")) for n in range(8)),
        )
    finally:
        await face.close()
    return sync, list(results)


async def test_concurrent_claims_have_one_winner(store_url: str) -> None:
    sync, results = await race_for_a_legacy(store_url, "claim_legacy",
                                            lambda heir: ("old", heir))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert sync.get_legacy("old").heir_id == winners[0].heir_id
    sync.close()


async def test_a_talks_prose_and_reply_are_stored_together(store: Face) -> None:
    await new_player(store)
    assert await store.set_talk_narration("p1", 0, "李老汉笑道。", False, "li", said(0))
    (entry,) = await store.list_log("p1", 1)
    assert entry.narration == "李老汉笑道。"
    # A second filler finds the prose there: it neither overwrites nor appends.
    assert not await store.set_talk_narration("p1", 0, "别的话", True, "li", said(0), True)
    assert (await store.list_log("p1", 1))[0].narration == "李老汉笑道。"
    # Past any window: nothing is pushed out until a fold holds it.
    for turn in (1, 2, 3):
        await store.append_exchange("p1", "li", said(turn), 99)
    assert [e["turn"] for e in (await store.get_conversation("p1", "li")).exchanges] == [
        0, 1, 2, 3]
    with pytest.raises(LogEntryNotFound):
        await store.set_talk_narration("p1", 9, "无", False, "li", said(9))
    with pytest.raises(ValueError):
        await store.set_talk_narration("p1", 0, "x", False, "li", {"player": "x"})  # type: ignore[typeddict-item]


async def test_a_fold_drops_exactly_the_exchanges_it_holds(store: Face) -> None:
    await new_player(store)
    for turn in (1, 2, 3):
        await store.append_exchange("p1", "li", said(turn), 99)
    assert not await store.fold_conversation("p1", "li", "新摘要", "not the summary", [1])
    assert not await store.fold_conversation("p1", "nobody", "新摘要", "", [1])
    assert await store.fold_conversation("p1", "li", "第1回", "", [1])
    talk = await store.get_conversation("p1", "li")
    assert talk == Conversation("第1回", [said(2), said(3)])
    # A second fold built on the old summary loses: nothing it would drop goes.
    assert not await store.fold_conversation("p1", "li", "第2回", "", [2])
    assert (await store.get_conversation("p1", "li")).exchanges == [said(2), said(3)]


async def test_an_heir_is_claimed_and_stored_in_one_transaction(store: Face) -> None:
    await store.record_legacy("old", "韩立", "died", {"spirit_stones": 30})
    await new_player(store, "taken")
    # The insert fails (the id is taken): the claim goes back with it, the legacy stays free.
    with pytest.raises(PlayerExists):
        await store.create_heir("taken", "h", STATE, entry(0), "old")
    assert (await store.get_legacy("old")).heir_id is None
    row = await store.create_heir("heir-1", "hash-1", STATE, entry(0), "old")
    assert row is not None and row.version == 0 and row.state == STATE
    assert (await store.get_legacy("old")).heir_id == "heir-1"
    assert [e.seq for e in await store.list_log("heir-1", 10)] == [0]
    # Another heir gets nothing, and nothing of it is stored.
    assert await store.create_heir("heir-2", "hash-2", STATE, entry(0), "old") is None
    assert await store.get_player("heir-2") is None
    assert await store.create_heir("heir-3", "hash-3", STATE, entry(0), "nobody") is None
    assert await store.get_player("heir-3") is None


async def test_concurrent_heirs_store_one_player(store_url: str) -> None:
    sync, results = await race_for_a_legacy(store_url, "create_heir",
                                            lambda heir: (heir, "h", STATE, entry(0), "old"))
    (winner,) = [r for r in results if r is not None]
    assert sync.get_legacy("old").heir_id == winner.id
    stored = [f"{k}{n}" for k in "sa" for n in range(8) if sync.get_player(f"{k}{n}")]
    assert stored == [winner.id]
    sync.close()


def test_memory_and_hall_tables_exist_after_init(store_url: str) -> None:
    store = open_store(store_url)
    assert store.init_schema() == SCHEMA_VERSION
    with store.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("hall")}
    assert {"conversations", "hall"} <= tables and "ix_hall_kind_id" in indexes
    store.close()
