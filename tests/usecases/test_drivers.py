"""The drivers and handlers: errors go back into the use case, chunks out of the stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from shared.errors import NotReady
from shared.store import StoreError
from shared.usecases import AsyncEffects, SyncEffects, drive_async, drive_sync
from shared.usecases import effects as fx
from shared.usecases.drivers import stream_async, stream_sync
from shared.usecases.effects import UseCase
from tests.usecases.script import Script


def _ask_twice() -> UseCase[list[str]]:
    seen = []
    try:
        yield from fx.CheckReady()
    except StoreError as exc:
        seen.append(f"caught {exc}")
    ok = yield from fx.PingTasks()
    seen.append(f"ping {ok}")
    return seen


async def test_a_handler_error_is_raised_at_the_step_that_asked() -> None:
    steps = [(fx.CheckReady, StoreError("down")), (fx.PingTasks, True)]
    assert drive_sync(_ask_twice(), Script(list(steps))) == ["caught down", "ping True"]
    assert await drive_async(_ask_twice(), Script(list(steps)).awaiting) == [
        "caught down", "ping True"]


def _emitting() -> UseCase[None]:
    yield fx.Emit(b"a")
    row = yield from fx.LoadPlayer("p1")
    yield fx.Emit(repr(row).encode())


async def test_streams_pass_chunks_and_perform_effects() -> None:
    assert list(stream_sync(_emitting(), Script([(fx.LoadPlayer, None)]))) == [b"a", b"None"]
    chunks = [c async for c in stream_async(_emitting(), Script([(fx.LoadPlayer, 7)]).awaiting)]
    assert chunks == [b"a", b"7"]


async def test_emitting_outside_a_stream_is_a_bug() -> None:
    with pytest.raises(TypeError):
        drive_sync(_emitting(), Script([]))
    with pytest.raises(TypeError):
        await drive_async(_emitting(), Script([]).awaiting)


class _SyncTasks:
    def ping(self) -> bool:
        return True


class _AsyncTasks:
    async def ping(self) -> bool:
        return True


def _deltas() -> UseCase[list[str | None]]:
    out: list[str | None] = []
    stream: Any = yield from fx.OpenNarrationStream(request=None)  # type: ignore[arg-type]
    while (delta := (yield from fx.NextDelta(stream))) is not None:
        out.append(delta)
    out.append(stream.result)
    return out


class _Stream:
    result = "done"

    def __init__(self) -> None:
        self.parts = iter(["甲", "乙"])

    def __iter__(self) -> Iterator[str]:
        return self.parts

    def __next__(self) -> str:
        return next(self.parts)

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        try:
            return next(self.parts)
        except StopIteration:
            raise StopAsyncIteration from None


class _Narrator:
    def stream(self, req: Any, user_id: str | None = None, *,
               offline_reason: str | None = None) -> _Stream:
        return _Stream()


async def test_handlers_serve_each_resource_by_its_face() -> None:
    assert drive_sync(iter(fx.PingTasks()), SyncEffects(None, None, _SyncTasks())) is True  # type: ignore[arg-type]
    assert await drive_async(iter(fx.PingTasks()), AsyncEffects(None, None, _AsyncTasks())) is True  # type: ignore[arg-type]
    assert drive_sync(_deltas(), SyncEffects(None, _Narrator())) == ["甲", "乙", "done"]
    assert await drive_async(_deltas(), AsyncEffects(None, _Narrator())) == ["甲", "乙", "done"]


async def test_a_missing_task_queue_is_503() -> None:
    with pytest.raises(NotReady) as caught:
        drive_sync(iter(fx.PingTasks()), SyncEffects(object(), object()))  # type: ignore[arg-type]
    assert caught.value.status == 503 and "LLM_BACKEND=celery" in str(caught.value)
    with pytest.raises(NotReady):
        await drive_async(iter(fx.GetTask("t")), AsyncEffects(object(), object()))  # type: ignore[arg-type]
