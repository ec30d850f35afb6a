"""Run a use case: blocking or awaiting, to a result or as a byte stream.

One loop per face (:func:`_perform_sync`, :func:`_perform_async`) walks a use case: it
performs each effect with the handler and passes each :class:`~shared.usecases.effects.Emit`
chunk out. :func:`drive_sync` / :func:`drive_async` run it to its return value (a use case
that emits there is a bug), :func:`stream_sync` / :func:`stream_async` pass the chunks to the
client. Exceptions raised by a handler are thrown back into the use case at the step that
asked, so a use case can catch e.g. ``VersionConflict``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from shared.usecases.effects import Effect, Emit, Step, UseCase

R = TypeVar("R")


class SyncHandler(Protocol):
    """Performs one effect, blocking (``SyncEffects`` or a scripted test handler)."""

    def __call__(self, effect: Effect[R], /) -> R: ...


class AsyncHandler(Protocol):
    """Performs one effect, awaiting (``AsyncEffects`` or a scripted test handler)."""

    def __call__(self, effect: Effect[R], /) -> Awaitable[R]: ...


class _Steps(Generic[R]):
    """A use case in flight: iterate it for its steps; answer or fail each effect."""

    __slots__ = ("_error", "_flow", "_reply", "value")

    def __init__(self, flow: UseCase[R]) -> None:
        self._flow = flow
        self._reply: Any = None
        self._error: Exception | None = None

    def __iter__(self) -> Iterator[Step]:
        return self

    def __next__(self) -> Step:
        reply, error, self._reply, self._error = self._reply, self._error, None, None
        try:
            return self._flow.send(reply) if error is None else self._flow.throw(error)
        except StopIteration as stop:
            self.value: R = stop.value
            raise

    def answer(self, result: Any) -> None:
        """What the next step receives at its ``yield``."""
        self._reply = result

    def fail(self, error: Exception) -> None:
        """What the next step raises at its ``yield``."""
        self._error = error


def _perform_sync(steps: _Steps[Any], handle: SyncHandler) -> Iterator[bytes]:
    for step in steps:
        if isinstance(step, Emit):
            yield step.data
            continue
        try:
            steps.answer(handle(step))
        except Exception as exc:  # delivered to the use case, which may handle it
            steps.fail(exc)


async def _perform_async(
    steps: _Steps[Any], handle: AsyncHandler
) -> AsyncGenerator[bytes, None]:
    for step in steps:
        if isinstance(step, Emit):
            yield step.data
            continue
        try:
            steps.answer(await handle(step))
        except Exception as exc:
            steps.fail(exc)


def _emitted(flow: UseCase[Any]) -> TypeError:
    flow.close()
    return TypeError("a use case emitted body chunks outside a streaming driver")


def drive_sync(flow: UseCase[R], handle: SyncHandler) -> R:
    """Run ``flow`` to completion, performing each effect with the blocking ``handle``."""
    steps = _Steps(flow)
    for _ in _perform_sync(steps, handle):
        raise _emitted(flow)
    return steps.value


async def drive_async(flow: UseCase[R], handle: AsyncHandler) -> R:
    """Run ``flow`` to completion, awaiting each effect with the async ``handle``."""
    steps = _Steps(flow)
    performing = _perform_async(steps, handle)
    async for _ in performing:
        await performing.aclose()
        raise _emitted(flow)
    return steps.value


def stream_sync(flow: UseCase[None], handle: SyncHandler) -> Iterator[bytes]:
    """Run a streaming use case, yielding its ``Emit`` chunks as they come."""
    try:
        yield from _perform_sync(_Steps(flow), handle)
    finally:
        flow.close()


async def stream_async(flow: UseCase[None], handle: AsyncHandler) -> AsyncIterator[bytes]:
    """Async twin of :func:`stream_sync`; cancellation (a client gone) propagates."""
    performing = _perform_async(_Steps(flow), handle)
    try:
        async for chunk in performing:
            yield chunk
    finally:
        await performing.aclose()
        flow.close()
