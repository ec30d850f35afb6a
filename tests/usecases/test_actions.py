"""The action use case driven by a scripted handler (both drivers), without HTTP or a store.

Each test lists the effects the use case must ask for, in order, and what each answers; the
narrator effects are served by a real narrator (offline, or on a failing upstream), and a
``TransactPlayer`` is answered as the store does: its ``decide`` rules on the given row.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.ai.deepseek_client import DeepSeekClient
from shared.ai.narrator import AsyncNarrator, Narrator
from shared.config import Settings
from shared.errors import Conflict, RateLimited, Unauthorized, UnknownPlayer
from shared.game import Action, PlayerState, action_seed, apply_action, new_player
from shared.game.narration import PromptBook
from shared.store import (
    CommitResult,
    LogEntry,
    LogEntryNotFound,
    NewLogEntry,
    PlayerRow,
    Replay,
    VersionConflict,
)
from shared.usecases import GameContext, Reply
from shared.usecases import effects as fx
from shared.usecases.actions import (
    MAX_COMMIT_ATTEMPTS,
    RATE_WINDOW_SECONDS,
    narrate_entry,
    perform_action,
)
from tests.usecases.script import (
    TOKEN,
    Driver,
    Script,
    player_row,
    run_awaiting,
    run_blocking,
    stored,
)

CULTIVATE = {"type": "cultivate", "target": None, "item": None, "text": None}


@pytest.fixture(params=["blocking", "awaiting"])
def drive(request: pytest.FixtureRequest) -> Driver:
    """Each test runs under both drivers."""
    return run_blocking if request.param == "blocking" else run_awaiting


@pytest.fixture
def settings() -> Settings:
    """No API key: the narrator answers offline, with ``degraded: true``."""
    return Settings(deepseek_api_key=None, llm_backend="")


@pytest.fixture
def ctx(world: Any, settings: Settings) -> GameContext:
    """The real world and the settings."""
    return GameContext(world=world, settings=settings)


@pytest.fixture
def state(world: Any) -> dict[str, Any]:
    """A new cultivator."""
    return new_player(world, "韩立", 7).state.to_dict()


def narrator_face(drive: Driver, narrator: Narrator) -> Any:
    """The narrator's face that goes with the driver."""
    if drive is run_blocking:
        return narrator
    return AsyncNarrator(narrator.prompts, narrator.settings, narrator.client, narrator.backend)


def served(face: Any) -> Any:
    """An answer that serves the effect from a real resource face."""
    return lambda effect: effect.call(face)


def transact(row: PlayerRow | None, recent: int = 0, prior: LogEntry | None = None) -> Any:
    """Answer a ``TransactPlayer`` as the store does: rule with ``decide``, write its verdict."""

    def answer(effect: fx.TransactPlayer) -> CommitResult:
        decision = effect.decide(row, recent, prior)
        assert row is not None
        if isinstance(decision, Replay):
            assert prior is not None
            return CommitResult(True, prior, row.version)
        return CommitResult(False, stored(decision.entry), row.version + 1)

    return answer


def moved(world: Any, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` after another request's action (what a concurrent writer leaves)."""
    before = PlayerState.from_dict(state)
    outcome = apply_action(world, before, Action("cultivate"), action_seed("p1", before.turn))
    return outcome.state.to_dict()


async def test_a_version_conflict_decides_again_on_the_newer_state(
    drive: Driver, ctx: GameContext, world: Any, state: dict[str, Any]
) -> None:
    newer = moved(world, state)
    offline = narrator_face(drive, Narrator(PromptBook(world), ctx.settings))
    script = Script([
        (fx.TransactPlayer, VersionConflict("p1", 0, 1)),  # an outside writer moved it
        (fx.TransactPlayer, transact(player_row(newer, 1))),
        (fx.Narrate, served(offline)),
        (fx.SaveNarration, None),
    ])
    reply: Reply = await drive(perform_action(ctx, "p1", TOKEN, CULTIVATE), script)
    assert reply.status == 200
    assert reply.body["version"] == 2
    assert reply.body["seq"] == newer["turn"] + 1  # decided on the newer state
    assert reply.body["player"]["turn"] == newer["turn"] + 1
    assert reply.body["narration"]["degraded"] is True
    saved = script.asked[-1]
    assert isinstance(saved, fx.SaveNarration) and saved.seq == reply.body["seq"]
    first = script.asked[0]
    assert isinstance(first, fx.TransactPlayer)
    assert first.recent_seconds == RATE_WINDOW_SECONDS and first.idempotency_key is None


async def test_a_player_that_keeps_moving_ends_in_409_without_narration(
    drive: Driver, ctx: GameContext
) -> None:
    script = Script([(fx.TransactPlayer, VersionConflict("p1", i, i + 1))
                     for i in range(MAX_COMMIT_ATTEMPTS)])
    with pytest.raises(Conflict) as caught:
        await drive(perform_action(ctx, "p1", TOKEN, CULTIVATE), script)
    assert caught.value.status == 409
    assert script.kinds() == ["TransactPlayer"] * MAX_COMMIT_ATTEMPTS


def _first_entry(state: dict[str, Any]) -> NewLogEntry:
    return NewLogEntry(seq=1, action={"type": "cultivate"},
                       outcome={"summary": "打坐", "state": state, "version": 1},
                       narration_request={"kind": "cultivate", "facts": {}},
                       idempotency_key="k-1")


async def test_an_idempotent_replay_answers_the_first_result_and_writes_nothing(
    drive: Driver, ctx: GameContext, state: dict[str, Any]
) -> None:
    prior = stored(_first_entry(state), narration="山风入怀。", degraded=False)
    script = Script([(fx.TransactPlayer, transact(player_row(state, 1), 1, prior))])
    reply: Reply = await drive(perform_action(ctx, "p1", TOKEN, CULTIVATE, "k-1"), script)
    assert reply.headers == {"Idempotent-Replayed": "true"}
    assert reply.body["seq"] == 1 and reply.body["version"] == 1
    assert reply.body["outcome"] == {"summary": "打坐"}  # the stored snapshot stays private
    assert reply.body["narration"] == {"text": "山风入怀。", "degraded": False}
    assert script.kinds() == ["TransactPlayer"]
    first = script.asked[0]
    assert isinstance(first, fx.TransactPlayer) and first.idempotency_key == "k-1"


async def test_a_replay_without_prose_narrates_and_stores_it(
    drive: Driver, ctx: GameContext, world: Any, state: dict[str, Any]
) -> None:
    offline = narrator_face(drive, Narrator(PromptBook(world), ctx.settings))
    prior = stored(_first_entry(state))  # the narration was cut by a crash
    script = Script([
        (fx.TransactPlayer, transact(player_row(state, 1), 1, prior)),
        (fx.Narrate, served(offline)),
        (fx.FillNarration, True),
    ])
    reply: Reply = await drive(perform_action(ctx, "p1", TOKEN, CULTIVATE, "k-1"), script)
    assert reply.headers["Idempotent-Replayed"] == "true"
    filled = script.asked[-1]
    assert isinstance(filled, fx.FillNarration) and filled.seq == 1
    assert reply.body["narration"] == {"text": filled.text, "degraded": True}


async def test_a_replay_that_lost_the_fill_race_answers_the_stored_prose(
    drive: Driver, ctx: GameContext, world: Any, state: dict[str, Any]
) -> None:
    offline = narrator_face(drive, Narrator(PromptBook(world), ctx.settings))
    prior = stored(_first_entry(state))
    script = Script([
        (fx.TransactPlayer, transact(player_row(state, 1), 1, prior)),
        (fx.Narrate, served(offline)),
        (fx.FillNarration, False),  # another replay stored its prose first
        (fx.ListLog, [stored(_first_entry(state), narration="先至之文。", degraded=False)]),
    ])
    reply: Reply = await drive(perform_action(ctx, "p1", TOKEN, CULTIVATE, "k-1"), script)
    assert reply.body["narration"] == {"text": "先至之文。", "degraded": False}


@pytest.mark.parametrize("recent", [120, 500])
async def test_the_rate_limit_refuses_inside_the_transaction(
    drive: Driver, ctx: GameContext, state: dict[str, Any], recent: int
) -> None:
    assert ctx.settings.action_rate_per_minute == 120
    script = Script([(fx.TransactPlayer, transact(player_row(state, 3), recent))])
    with pytest.raises(RateLimited) as caught:
        await drive(perform_action(ctx, "p1", TOKEN, CULTIVATE), script)
    assert caught.value.status == 429
    assert script.kinds() == ["TransactPlayer"]


async def test_one_below_the_limit_is_applied(
    drive: Driver, ctx: GameContext, world: Any, state: dict[str, Any]
) -> None:
    offline = narrator_face(drive, Narrator(PromptBook(world), ctx.settings))
    script = Script([
        (fx.TransactPlayer, transact(player_row(state, 0), 119)),
        (fx.Narrate, served(offline)),
        (fx.SaveNarration, None),
    ])
    reply: Reply = await drive(perform_action(ctx, "p1", TOKEN, CULTIVATE), script)
    assert reply.status == 200 and reply.body["version"] == 1


async def test_tokens_are_checked_before_and_inside_the_transaction(
    drive: Driver, ctx: GameContext, state: dict[str, Any]
) -> None:
    with pytest.raises(Unauthorized):
        await drive(perform_action(ctx, "p1", None, CULTIVATE), Script([]))
    with pytest.raises(UnknownPlayer):  # a wrong token reads as an unknown player
        await drive(perform_action(ctx, "p1", "pt_other", CULTIVATE),
                    Script([(fx.TransactPlayer, transact(player_row(state, 0)))]))
    with pytest.raises(UnknownPlayer):
        await drive(perform_action(ctx, "p1", TOKEN, CULTIVATE),
                    Script([(fx.TransactPlayer, transact(None))]))


async def test_an_upstream_failure_degrades_the_narration_and_saves_it(
    drive: Driver, world: Any, state: dict[str, Any]
) -> None:
    calls: list[httpx.Request] = []

    def failing(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"error": {"message": "overloaded"}})

    async def no_sleep(_: float) -> None:
        return None

    # No token budgets: this test is about the upstream (budgets are shared.limits' tests).
    settings = Settings(deepseek_api_key="sk-test", llm_backend="", llm_max_retries=0,
                        llm_player_daily_tokens=0, llm_global_minute_tokens=0,
                        llm_global_daily_tokens=0)
    client = DeepSeekClient(settings, transport=httpx.MockTransport(failing),
                            async_transport=httpx.MockTransport(failing),
                            sleep=lambda _: None, async_sleep=no_sleep)
    narrator = narrator_face(drive, Narrator(PromptBook(world), settings, client))
    ctx = GameContext(world=world, settings=settings)
    script = Script([
        (fx.TransactPlayer, transact(player_row(state, 0))),
        (fx.Narrate, served(narrator)),
        (fx.SaveNarration, None),
    ])
    try:
        reply: Reply = await drive(perform_action(ctx, "p1", TOKEN, CULTIVATE), script)
    finally:
        client.close()
        await client.aclose()
    assert len(calls) == 1  # the upstream was asked, and failed
    assert reply.status == 200
    narration = reply.body["narration"]
    assert narration["degraded"] is True and narration["text"]
    saved = script.asked[-1]
    assert isinstance(saved, fx.SaveNarration)
    assert (saved.text, saved.degraded) == (narration["text"], True)


# -- the worker's narration (the same use case the apps narrate with) -----------------------


async def test_the_worker_narrates_an_entry_once(
    drive: Driver, ctx: GameContext, world: Any, state: dict[str, Any]
) -> None:
    offline = narrator_face(drive, Narrator(PromptBook(world), ctx.settings))
    bare = stored(_first_entry(state))
    script = Script([(fx.ListLog, [bare]), (fx.Narrate, served(offline)),
                     (fx.FillNarration, True)])
    told, replayed = await drive(narrate_entry("p1", 1, bare.narration_request, "p1"), script)
    assert replayed is False and told.degraded is True
    done = stored(_first_entry(state), narration="已有之文。", degraded=False)
    script = Script([(fx.ListLog, [done])])
    told, replayed = await drive(narrate_entry("p1", 1, done.narration_request), script)
    assert (told.text, told.degraded, replayed) == ("已有之文。", False, True)
    with pytest.raises(LogEntryNotFound):
        await drive(narrate_entry("p1", 2, done.narration_request), Script([(fx.ListLog, [done])]))
