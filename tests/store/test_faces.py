"""Store behaviour, each test run on both faces (sync, async) and both databases.

The ``store`` fixture (``conftest.py``) presents the sync face with awaitable methods
(``SyncFace``), so one test body checks that the two faces behave identically. Other modules
import the helpers from here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, text, update

from shared.errors import AppError, RateLimited
from shared.store import (
    REPLAY,
    SCHEMA_VERSION,
    Commit,
    Decide,
    Decision,
    HallRecord,
    LogEntry,
    LogEntryNotFound,
    NewLogEntry,
    PlayerExists,
    PlayerNotFound,
    PlayerRow,
    StoreError,
    VersionConflict,
    open_async_store,
    open_store,
)
from shared.store.schema import action_log
from tests.store.faces import Face

STATE = {
    "name": "韩立",
    "root": "伪灵根",
    "realm": "练气",
    "stage": 1,
    "qi": 12.5,
    "alive": True,
    "master": None,
    "inventory": {"回春丹": 2, "下品灵石": 30},
    "techniques": ["长春功"],
}


def entry(seq: int, key: str | None = None, **action: Any) -> NewLogEntry:
    """A log entry with recognisable JSON in every column."""
    return NewLogEntry(
        seq=seq,
        action={"type": "cultivate", "n": seq, **action},
        outcome={"summary": f"第{seq}次修炼，灵气入体。", "success": True},
        narration_request={"kind": "cultivate", "facts": {"seq": seq}},
        idempotency_key=key,
    )


@pytest.fixture
def store_url(combo: tuple[str, str]) -> str:
    """This module's tests take the database from ``combo`` (overrides conftest's)."""
    return combo[1]


async def new_player(store: Face, player_id: str = "p1", state: dict[str, Any] | None = None):
    """Create a player with the standard state and its creation entry (seq 0)."""
    return await store.create_player(player_id, "hash-" + player_id, state or STATE, entry(0))


def backdate(store_url: str, player_id: str, seqs: list[int], age: timedelta) -> None:
    """Move log entries into the past (test data only; the store reads the DB clock)."""
    sync = open_store(store_url)
    try:
        with sync.engine.begin() as conn:
            conn.execute(
                update(action_log)
                .where(action_log.c.player_id == player_id, action_log.c.seq.in_(seqs))
                .values(created_at=datetime.now(UTC) - age)
            )
    finally:
        sync.close()


def assert_utc(value: datetime) -> None:
    """Timestamps come back timezone-aware, in UTC."""
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)


async def test_create_then_get_round_trips_every_field(store: Face) -> None:
    created = await new_player(store)
    got = await store.get_player("p1")
    assert got == created
    assert got.id == "p1" and got.token_hash == "hash-p1" and got.version == 0
    assert got.state == STATE
    assert_utc(got.created_at)
    assert_utc(got.updated_at)
    assert got.created_at <= got.updated_at


async def test_get_missing_player_is_none(store: Face) -> None:
    assert await store.get_player("nobody") is None


async def test_create_writes_the_first_log_entry(store: Face) -> None:
    await new_player(store)
    (first,) = await store.list_log("p1", 10)
    assert first.player_id == "p1" and first.seq == 0
    assert first.action == {"type": "cultivate", "n": 0}
    assert first.outcome["summary"] == "第0次修炼，灵气入体。"
    assert first.narration_request == {"kind": "cultivate", "facts": {"seq": 0}}
    assert first.narration is None and first.degraded is None and first.idempotency_key is None
    assert_utc(first.created_at)


async def test_create_duplicate_id_raises_and_keeps_the_first(store: Face) -> None:
    await new_player(store)
    with pytest.raises(PlayerExists) as info:
        await store.create_player("p1", "other", {"name": "厉飞雨"}, entry(0))
    assert info.value.status == 409
    row = await store.get_player("p1")
    assert row.token_hash == "hash-p1" and row.state == STATE
    assert len(await store.list_log("p1", 10)) == 1


async def test_commit_with_the_right_version(store: Face) -> None:
    before = await new_player(store)
    new_state = {**STATE, "qi": 20}
    result = await store.commit_action("p1", 0, new_state, entry(1))
    assert result.replayed is False and result.version == 1
    assert result.entry.seq == 1 and result.entry.player_id == "p1"
    assert result.entry.action == {"type": "cultivate", "n": 1}
    assert result.entry.narration is None
    assert_utc(result.entry.created_at)
    row = await store.get_player("p1")
    assert row.version == 1 and row.state == new_state
    assert row.created_at == before.created_at and row.updated_at >= before.updated_at
    newest = (await store.list_log("p1", 1))[0]
    assert newest == result.entry


async def test_commit_with_a_wrong_version_raises_and_writes_nothing(store: Face) -> None:
    await new_player(store)
    await store.commit_action("p1", 0, {**STATE, "qi": 1}, entry(1))
    for stale in (0, 5):
        with pytest.raises(VersionConflict) as info:
            await store.commit_action("p1", stale, {"lost": True}, entry(2))
        assert (info.value.expected, info.value.actual) == (stale, 1)
        assert info.value.status == 409 and isinstance(info.value, AppError)
    row = await store.get_player("p1")
    assert row.version == 1 and row.state == {**STATE, "qi": 1}
    assert [e.seq for e in await store.list_log("p1", 10)] == [1, 0]


async def test_commit_on_a_missing_player_raises_not_found(store: Face) -> None:
    with pytest.raises(PlayerNotFound) as info:
        await store.commit_action("ghost", 0, {}, entry(1))
    assert info.value.status == 404


async def test_commit_reusing_a_log_seq_is_a_conflict_and_writes_nothing(store: Face) -> None:
    await new_player(store)
    with pytest.raises(VersionConflict) as info:
        await store.commit_action("p1", 0, {"lost": True}, entry(0))
    assert info.value.actual is None
    row = await store.get_player("p1")
    assert row.version == 0 and row.state == STATE


async def test_idempotent_replay_returns_the_first_entry_and_writes_nothing(store: Face) -> None:
    await new_player(store)
    first = await store.commit_action("p1", 0, {**STATE, "qi": 1}, entry(1, key="k-1"))
    assert first.replayed is False
    # The retry carries the version it read before the first attempt.
    again = await store.commit_action("p1", 0, {"other": 1}, entry(1, key="k-1", x=1))
    assert again.replayed is True and again.entry == first.entry and again.version == 1
    # A retry built on the refreshed version is caught by the unique key instead.
    refreshed = await store.commit_action("p1", 1, {"other": 2}, entry(2, key="k-1"))
    assert refreshed.replayed is True and refreshed.entry == first.entry
    assert refreshed.version == 1
    row = await store.get_player("p1")
    assert row.version == 1 and row.state == {**STATE, "qi": 1}
    assert [e.seq for e in await store.list_log("p1", 10)] == [1, 0]


async def test_idempotency_keys_are_per_player(store: Face) -> None:
    await new_player(store, "p1")
    await new_player(store, "p2")
    a = await store.commit_action("p1", 0, {"a": 1}, entry(1, key="same"))
    b = await store.commit_action("p2", 0, {"b": 1}, entry(1, key="same"))
    assert not a.replayed and not b.replayed
    assert (await store.get_player("p2")).state == {"b": 1}


async def test_find_idempotent(store: Face) -> None:
    await new_player(store, "p1")
    await new_player(store, "p2")
    assert await store.find_idempotent("p1", "k") is None
    result = await store.commit_action("p1", 0, {"a": 1}, entry(1, key="k"))
    assert await store.find_idempotent("p1", "k") == result.entry
    assert await store.find_idempotent("p2", "k") is None
    assert await store.find_idempotent("p1", "other") is None


async def test_set_narration(store: Face) -> None:
    await new_player(store)
    await store.commit_action("p1", 0, {"a": 1}, entry(1))
    await store.set_narration("p1", 1, "你盘膝而坐，灵气如潮。", False)
    newest, creation = await store.list_log("p1", 10)
    assert (newest.narration, newest.degraded) == ("你盘膝而坐，灵气如潮。", False)
    assert creation.narration is None
    await store.set_narration("p1", 1, "（离线）灵气入体。", True)
    newest = (await store.list_log("p1", 1))[0]
    assert (newest.narration, newest.degraded) == ("（离线）灵气入体。", True)
    assert (await store.get_player("p1")).version == 1  # narration is not a state change


async def test_set_narration_on_a_missing_entry_raises(store: Face) -> None:
    await new_player(store)
    with pytest.raises(LogEntryNotFound):
        await store.set_narration("p1", 7, "无", False)
    with pytest.raises(LogEntryNotFound):
        await store.set_narration("ghost", 0, "无", False)


async def test_list_log_pages_newest_first(store: Face) -> None:
    await new_player(store)
    for version in range(11):
        await store.commit_action("p1", version, {"turn": version + 1}, entry(version + 1))
    pages: list[list[int]] = []
    before: int | None = None
    while True:
        page = await store.list_log("p1", 5, before)
        if not page:
            break
        pages.append([e.seq for e in page])
        before = page[-1].seq
    assert pages == [[11, 10, 9, 8, 7], [6, 5, 4, 3, 2], [1, 0]]
    assert [e.seq for e in await store.list_log("p1", 3, before_seq=5)] == [4, 3, 2]
    assert await store.list_log("ghost", 5) == []


async def test_count_actions_since_uses_the_database_clock(store: Face, store_url: str) -> None:
    await new_player(store, "p1")
    await new_player(store, "p2")
    for version in range(3):
        await store.commit_action("p1", version, {}, entry(version + 1))
    # Actions only: the creation entry (seq 0) is not one.
    assert await store.count_actions_since("p1", 60) == 3
    assert await store.count_actions_since("p2", 60) == 0
    assert await store.count_actions_since("p1", 0) == 0
    backdate(store_url, "p1", [1, 2], timedelta(minutes=10))
    assert await store.count_actions_since("p1", 60) == 1
    assert await store.count_actions_since("p1", 3600) == 3
    assert await store.count_actions_since("p1", 599.5) == 1


async def test_ping_and_init_schema_again(store: Face) -> None:
    await store.ping()
    assert await store.init_schema() == SCHEMA_VERSION
    assert await store.get_player("p1") is None


async def test_repr_names_the_database_without_password(store: Face) -> None:
    text = repr(getattr(store, "inner", store))
    assert ("sqlite" in text) or ("postgresql" in text)
    assert store.backend in ("sqlite", "postgresql")


async def test_player_with_recent_actions_in_one_trip(store_url: str) -> None:
    """The action path's read: the player and its recent actions (creation not counted)."""
    from shared.store import NewLogEntry, open_store

    sync = open_store(store_url)
    sync.init_schema()
    try:
        assert sync.get_player_with_recent("ghost", 60) == (None, 0)
        created = NewLogEntry(seq=0, action={"type": "create"}, outcome={},
                              narration_request={}, idempotency_key=None)
        sync.create_player("p1", "h", {"turn": 0}, created)
        row, recent = sync.get_player_with_recent("p1", 60)
        assert row is not None and row.id == "p1" and recent == 0
        entry = NewLogEntry(seq=1, action={"type": "rest"}, outcome={}, narration_request={},
                            idempotency_key=None)
        sync.commit_action("p1", 0, {"turn": 1}, entry)
        assert sync.get_player_with_recent("p1", 60)[1] == 1
    finally:
        sync.close()
    async_store = open_async_store(store_url)
    try:
        row, recent = await async_store.get_player_with_recent("p1", 60)
        assert row is not None and row.version == 1 and recent == 1
    finally:
        await async_store.close()


# --- transact_player: one serialised transaction per action ----------------------------


def bump(tag: str, key: str | None = None) -> Decide:
    """A ``decide`` that adds one to the counter (replaying a known key), like an action."""

    def decide(row: PlayerRow | None, recent: int, prior: LogEntry | None) -> Decision:
        if prior is not None:
            return REPLAY
        assert row is not None
        state = {"counter": row.state["counter"] + 1, "last": tag}
        return Commit(state, entry(row.version + 1, key, w=tag))

    return decide


async def test_transact_commits_state_and_entry(store: Face) -> None:
    await new_player(store, state={"counter": 0})
    seen: list[tuple[PlayerRow | None, int, LogEntry | None]] = []

    def decide(row: PlayerRow | None, recent: int, prior: LogEntry | None) -> Decision:
        seen.append((row, recent, prior))
        return Commit({"counter": 1}, entry(1, "k1"))

    result = await store.transact_player("p1", decide)
    ((row, recent, prior),) = seen
    assert row is not None and row.version == 0 and row.state == {"counter": 0}
    assert recent == 0 and prior is None  # not asked for: no count, no key
    assert result.replayed is False and result.version == 1
    assert result.entry.seq == 1 and result.entry.idempotency_key == "k1"
    assert result.entry.narration is None
    assert_utc(result.entry.created_at)
    got = await store.get_player("p1")
    assert got.version == 1 and got.state == {"counter": 1}
    assert (await store.list_log("p1", 1))[0] == result.entry


async def test_transact_enters_an_ended_run_in_the_hall_in_the_same_commit(store: Face) -> None:
    await new_player(store, state={"counter": 0})
    ended = HallRecord("韩立", "died", {"cause": "old_age"})

    def decide(row: PlayerRow | None, recent: int, prior: LogEntry | None) -> Decision:
        return Commit({"counter": 1, "ended": True}, entry(1), hall=ended)

    await store.transact_player("p1", decide)
    got = await store.get_legacy("p1")
    assert got is not None and (got.name, got.kind, got.record) == ("韩立", "died",
                                                                     {"cause": "old_age"})
    # A run already in the hall keeps its first record (an entry is never doubled).
    await store.transact_player("p1", lambda row, recent, prior: Commit(
        {"counter": 2}, entry(2), hall=HallRecord("别名", "ascended", {})))
    assert await store.get_legacy("p1") == got
    assert [e.player_id for e in await store.list_hall(5)] == ["p1"]


async def test_transact_gives_decide_the_recent_count_and_the_prior_entry(
    store: Face, store_url: str
) -> None:
    await new_player(store, state={"counter": 0})
    first = await store.transact_player("p1", bump("a", "k1"), idempotency_key="k1")
    await store.transact_player("p1", bump("b"))
    backdate(store_url, "p1", [1], timedelta(minutes=10))
    seen: list[tuple[int, LogEntry | None]] = []

    def decide(row: PlayerRow | None, recent: int, prior: LogEntry | None) -> Decision:
        seen.append((recent, prior))
        return REPLAY

    again = await store.transact_player("p1", decide, recent_seconds=60, idempotency_key="k1")
    # Creation (seq 0) is not an action, seq 1 is 10 minutes old: one recent action.
    assert seen[0][0] == 1 and seen[0][1] is not None
    assert seen[0][1].seq == 1 and seen[0][1].action == first.entry.action
    assert again.replayed is True and again.entry == seen[0][1] and again.version == 2
    assert (await store.get_player("p1")).version == 2  # a replay writes nothing
    await store.transact_player("p1", decide, recent_seconds=3600, idempotency_key="k1")
    assert seen[1][0] == 2
    with pytest.raises(ValueError, match="no prior entry"):
        await store.transact_player("p1", decide, idempotency_key="unknown")
    with pytest.raises(ValueError, match="idempotency_key"):  # the key must be stored
        await store.transact_player("p1", bump("c", "other"), idempotency_key="k2")
    assert (await store.get_player("p1")).version == 2


async def test_transact_on_a_missing_player(store: Face) -> None:
    seen: list[PlayerRow | None] = []

    def decide(row: PlayerRow | None, recent: int, prior: LogEntry | None) -> Decision:
        seen.append(row)
        assert recent == 0 and prior is None
        return Commit({}, entry(1))

    with pytest.raises(PlayerNotFound):
        await store.transact_player("ghost", decide, recent_seconds=60, idempotency_key="k")
    assert seen == [None]
    assert await store.get_player("ghost") is None


async def test_transact_exception_in_decide_writes_nothing_and_propagates(store: Face) -> None:
    await new_player(store, state={"counter": 0})
    boom = RateLimited("每分钟最多行动 1 次。")

    def decide(row: PlayerRow | None, recent: int, prior: LogEntry | None) -> Decision:
        raise boom

    with pytest.raises(RateLimited) as info:
        await store.transact_player("p1", decide, recent_seconds=60, idempotency_key="k")
    assert info.value is boom  # unchanged, not wrapped
    row = await store.get_player("p1")
    assert row.version == 0 and row.state == {"counter": 0}
    assert [e.seq for e in await store.list_log("p1", 10)] == [0]
    # The lock was released: the next action goes through.
    assert (await store.transact_player("p1", bump("next"))).version == 1


async def test_transact_reusing_a_log_seq_is_a_conflict_and_writes_nothing(store: Face) -> None:
    await new_player(store, state={"counter": 0})

    def decide(row: PlayerRow | None, recent: int, prior: LogEntry | None) -> Decision:
        return Commit({"lost": True}, entry(0))

    with pytest.raises(VersionConflict):
        await store.transact_player("p1", decide)
    row = await store.get_player("p1")
    assert row.version == 0 and row.state == {"counter": 0}


async def test_transact_and_commit_action_share_the_version(store: Face) -> None:
    await new_player(store, state={"counter": 0})
    await store.commit_action("p1", 0, {"counter": 1}, entry(1))
    result = await store.transact_player("p1", bump("t"))
    assert result.version == 2
    with pytest.raises(VersionConflict):
        await store.commit_action("p1", 1, {"counter": 9}, entry(3))
    assert (await store.get_player("p1")).state == {"counter": 2, "last": "t"}


# --- set_narration_if_missing: a replay fills lost prose, never overwrites -------------


async def test_set_narration_if_missing(store: Face) -> None:
    await new_player(store)
    await store.commit_action("p1", 0, {"a": 1}, entry(1))
    assert await store.set_narration_if_missing("p1", 1, "灵气如潮。", False) is True
    newest = (await store.list_log("p1", 1))[0]
    assert (newest.narration, newest.degraded) == ("灵气如潮。", False)
    # The prose a player may have read already stays.
    assert await store.set_narration_if_missing("p1", 1, "（离线）另一段。", True) is False
    newest = (await store.list_log("p1", 1))[0]
    assert (newest.narration, newest.degraded) == ("灵气如潮。", False)
    assert await store.set_narration_if_missing("p1", 7, "无", False) is False
    assert await store.set_narration_if_missing("ghost", 0, "无", False) is False
    assert (await store.get_player("p1")).version == 1


async def test_player_id_for_token_hash(store: Face) -> None:
    await new_player(store, "p1")
    await new_player(store, "p2")
    assert await store.player_id_for_token_hash("hash-p2") == "p2"
    assert await store.player_id_for_token_hash("hash-p1") == "p1"
    assert await store.player_id_for_token_hash("unknown") is None


# --- run_read / run_transaction: other packages' operations on the store's connections ---


def rename(conn: Connection, player_id: str, *, token_hash: str) -> int:
    """An operation of another package: a plain function of a connection."""
    from shared.store.schema import players

    changed = conn.execute(
        update(players).where(players.c.id == player_id).values(token_hash=token_hash)
    ).rowcount
    conn.commit()
    return changed


def rename_then_fail(conn: Connection, player_id: str) -> None:
    rename(conn, player_id, token_hash="never-kept")  # commits...
    conn.execute(text("UPDATE players SET token_hash = 'rolled-back'"))  # ...this does not
    raise LookupError("decided against it")


async def test_run_transaction_and_run_read(store: Face) -> None:
    await new_player(store)
    assert await store.run_transaction(rename, "p1", token_hash="new-hash") == 1
    assert await store.run_read(lambda conn: conn.execute(text(
        "SELECT token_hash FROM players WHERE id = 'p1'")).scalar_one()) == "new-hash"
    error = LookupError("mine")

    def fails(conn: Connection) -> None:
        raise error

    with pytest.raises(LookupError) as info:
        await store.run_transaction(fails)
    assert info.value is error  # propagates unchanged
    with pytest.raises(LookupError):
        await store.run_transaction(rename_then_fail, "p1")
    # What it committed stays; what it left open was rolled back.
    assert (await store.get_player("p1")).token_hash == "never-kept"
    with pytest.raises(StoreError):  # a database error is the store's 503, as everywhere
        await store.run_read(lambda conn: conn.execute(text("SELECT * FROM no_such_table")))
