"""The one pair of stream wrappers: text deltas now, a typed result once exhausted.

A producer is a generator of text deltas that is handed a ``finish`` callback and calls it
with the final result before it ends (async generators cannot ``return`` a value, so both
faces use the callback). :class:`Stream` wraps a generator, :class:`AsyncStream` an async
generator; both close the producer (and so the upstream response) on ``close``/``aclose``
or when leaving a ``with`` block. The client's streams are ``Stream[ChatResult]`` and the
narrator's ``Stream[Narration]``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import Generic, TypeVar

R = TypeVar("R")

Finish = Callable[[R], None]


class _Outcome(Generic[R]):
    """The result slot both wrappers share."""

    _done: bool = False
    _value: R

    def _finish(self, value: R) -> None:
        self._value = value
        self._done = True

    @property
    def done(self) -> bool:
        """True once the producer has delivered its result."""
        return self._done

    @property
    def result(self) -> R:
        """The finished result; RuntimeError before the producer delivered it."""
        if not self._done:
            raise RuntimeError("the stream has not finished yet")
        return self._value


class Stream(_Outcome[R], Iterator[str]):
    """Text deltas (blocking); ``.result`` once exhausted."""

    def __init__(self, make: Callable[[Finish[R]], Generator[str, None, None]]) -> None:
        self._gen = make(self._finish)

    def __iter__(self) -> Stream[R]:
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def close(self) -> None:
        """Stop early; closes the upstream response."""
        self._gen.close()

    def __enter__(self) -> Stream[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncStream(_Outcome[R], AsyncIterator[str]):
    """Text deltas on the event loop; ``.result`` once exhausted."""

    def __init__(self, make: Callable[[Finish[R]], AsyncGenerator[str, None]]) -> None:
        self._gen = make(self._finish)

    def __aiter__(self) -> AsyncStream[R]:
        return self

    async def __anext__(self) -> str:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Stop early; closes the upstream response."""
        await self._gen.aclose()

    async def __aenter__(self) -> AsyncStream[R]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
