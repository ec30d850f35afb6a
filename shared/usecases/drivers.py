"""Run a use case generator: blocking or awaiting, to a result or as a byte stream.

The handler maps an effect to its result. Exceptions raised by a handler are thrown back into
the generator at the ``yield`` that asked, so a use case can catch e.g. ``VersionConflict``.
Streaming use cases also yield :class:`~shared.usecases.effects.Emit` chunks, which the
streaming drivers pass to the client instead of handling.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any, TypeVar

from shared.usecases.effects import Emit

R = TypeVar("R")
UseCase = Generator[Any, Any, R]


def drive_sync(flow: UseCase[R], handle: Callable[[Any], Any]) -> R:
    """Run ``flow`` to completion, performing each effect with the blocking ``handle``."""
    try:
        effect = next(flow)
        while True:
            try:
                result = handle(effect)
            except Exception as exc:  # delivered to the use case, which may handle it
                effect = flow.throw(exc)
            else:
                effect = flow.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def drive_async(flow: UseCase[R], handle: Callable[[Any], Awaitable[Any]]) -> R:
    """Run ``flow`` to completion, awaiting each effect with the async ``handle``."""
    try:
        effect = next(flow)
        while True:
            try:
                result = await handle(effect)
            except Exception as exc:
                effect = flow.throw(exc)
            else:
                effect = flow.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def stream_sync(flow: UseCase[None], handle: Callable[[Any], Any]) -> Iterator[bytes]:
    """Run a streaming use case, yielding its ``Emit`` chunks as they come."""
    try:
        item = next(flow)
        while True:
            if type(item) is Emit:
                yield item.data
                item = flow.send(None)
                continue
            try:
                result = handle(item)
            except Exception as exc:
                item = flow.throw(exc)
            else:
                item = flow.send(result)
    except StopIteration:
        return
    finally:
        flow.close()


async def stream_async(
    flow: UseCase[None], handle: Callable[[Any], Awaitable[Any]]
) -> AsyncIterator[bytes]:
    """Async twin of :func:`stream_sync`; cancellation (a client gone) propagates."""
    try:
        item = next(flow)
        while True:
            if type(item) is Emit:
                yield item.data
                item = flow.send(None)
                continue
            try:
                result = await handle(item)
            except Exception as exc:
                item = flow.throw(exc)
            else:
                item = flow.send(result)
    except StopIteration:
        return
    finally:
        flow.close()
