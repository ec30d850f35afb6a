"""The worker's task bodies in process (no Celery, no Redis): they run the apps' use cases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.config import Settings
from shared.tasks.errors import NarrationTargetMissing
from shared.tasks.llm_tasks import complete_prompt, narrate_entry
from shared.tasks.resources import WorkerResources
from shared.usecases import GameContext, SyncEffects, drive_sync
from shared.usecases.actions import commit_action
from shared.usecases.identity import Identity
from shared.usecases.players import create_player

IDENTITY = Identity("p-worker", "pt_worker-token", 11)


@pytest.fixture
def res(sqlite_url: str) -> Iterator[WorkerResources]:
    """Worker resources on a fresh SQLite store, offline narrator."""
    resources = WorkerResources(Settings(database_url=sqlite_url, deepseek_api_key=None,
                                         llm_backend="celery"))
    resources.store.init_schema()
    try:
        yield resources
    finally:
        resources.close()


def _committed_without_prose(res: WorkerResources) -> Any:
    """A player and one committed action whose prose is owed (as in Celery mode)."""
    ctx = GameContext(res.world, res.settings, deferred_narration=True)
    handler = SyncEffects(res.store, res.narrator)
    drive_sync(create_player(ctx, "韩立", IDENTITY), handler)
    return drive_sync(commit_action(ctx, IDENTITY.player_id, IDENTITY.token,
                                    {"type": "cultivate"}), handler)


def test_narrate_entry_stores_the_prose_once(res: WorkerResources) -> None:
    committed = _committed_without_prose(res)
    first = narrate_entry(res, IDENTITY.player_id, committed.seq, committed.narration_request,
                          IDENTITY.player_id)
    assert first["replayed"] is False and first["degraded"] is True and first["text"]
    (entry,) = res.store.list_log(IDENTITY.player_id, 1)
    assert (entry.seq, entry.narration, entry.degraded) == (committed.seq, first["text"], True)
    again = narrate_entry(res, IDENTITY.player_id, committed.seq, committed.narration_request)
    assert again == {**first, "model": None, "usage": None, "reason": None, "replayed": True}


def test_narrate_entry_never_overwrites_prose_written_meanwhile(res: WorkerResources) -> None:
    committed = _committed_without_prose(res)
    store = res.store
    real_fill = store.set_narration_if_missing

    def someone_else_first(player_id: str, seq: int, text: str, degraded: bool) -> bool:
        real_fill(player_id, seq, "先至之文。", False)  # another worker got there first
        return real_fill(player_id, seq, text, degraded)

    store.set_narration_if_missing = someone_else_first  # type: ignore[method-assign]
    told = narrate_entry(res, IDENTITY.player_id, committed.seq, committed.narration_request)
    assert (told["text"], told["degraded"]) == ("先至之文。", False)
    assert store.list_log(IDENTITY.player_id, 1)[0].narration == "先至之文。"


def test_narrate_entry_of_a_missing_entry_fails_clearly(res: WorkerResources) -> None:
    committed = _committed_without_prose(res)
    with pytest.raises(NarrationTargetMissing):
        narrate_entry(res, IDENTITY.player_id, committed.seq + 5, committed.narration_request)


def test_complete_prompt_answers_offline_without_a_key(res: WorkerResources) -> None:
    told = complete_prompt(res, "问道")
    assert told["degraded"] is True and told["reason"] == "no_api_key" and told["text"]
