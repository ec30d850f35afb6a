"""The narrator: DeepSeek prose when it can, the offline templates when it cannot.

The narrator never raises for upstream trouble. With no API key, when a call fails after
its retries, or while the circuit breaker is open, it returns the offline text with
``degraded=True`` and a short ``reason`` (``no_api_key``, ``timeout``, ``status_429``,
``circuit_open``...). A stream that fails after some text keeps that text and adds
nothing invented; it is marked degraded. Cancellation (a client that went away) is not
upstream trouble: it propagates, and the upstream response is closed on the way out.

``prompts`` is any object with ``messages(req)``, ``offline(req)``, ``raw_messages(prompt)``
and ``offline_raw(prompt)`` (``shared.game.narration.PromptBook`` in the apps). A ``World``
is accepted too and wrapped in a ``PromptBook``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from shared import metrics
from shared.ai.deepseek_client import DeepSeekClient
from shared.ai.errors import LLMError
from shared.ai.protocol import ChatResult
from shared.config import Settings
from shared.logging_setup import get_logger

NO_API_KEY = "no_api_key"
BACKENDS = ("httpx", "threadpool", "sync", "celery")


class Prompts(Protocol):
    """What the narrator needs from the prompt book."""

    def messages(self, req: Any) -> list[dict[str, str]]: ...
    def offline(self, req: Any) -> str: ...
    def raw_messages(self, prompt: str) -> list[dict[str, str]]: ...
    def offline_raw(self, prompt: str) -> str: ...


@dataclass(frozen=True)
class Narration:
    """A piece of narration and where it came from."""

    text: str
    degraded: bool
    model: str | None = None
    usage: dict[str, Any] | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe copy."""
        return {
            "text": self.text,
            "degraded": self.degraded,
            "model": self.model,
            "usage": dict(self.usage) if self.usage is not None else None,
            "reason": self.reason,
        }


def _online(result: ChatResult) -> Narration:
    return Narration(result.text, False, result.model, dict(result.usage), None)


class NarrationStream(Iterator[str]):
    """Text deltas; once exhausted, ``.result`` is the whole :class:`Narration`."""

    def __init__(self, make: Callable[[NarrationStream], Generator[str, None, None]]) -> None:
        self._result: Narration | None = None
        self._gen = make(self)

    @property
    def result(self) -> Narration:
        """The finished narration; RuntimeError before the stream is exhausted."""
        if self._result is None:
            raise RuntimeError("the narration stream has not finished yet")
        return self._result

    def __iter__(self) -> NarrationStream:
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def close(self) -> None:
        """Stop early; closes the upstream response."""
        self._gen.close()


class AsyncNarrationStream(AsyncIterator[str]):
    """Async text deltas; once exhausted, ``.result`` is the whole :class:`Narration`."""

    def __init__(
        self, make: Callable[[AsyncNarrationStream], AsyncGenerator[str, None]]
    ) -> None:
        self._result: Narration | None = None
        self._gen = make(self)

    @property
    def result(self) -> Narration:
        """The finished narration; RuntimeError before the stream is exhausted."""
        if self._result is None:
            raise RuntimeError("the narration stream has not finished yet")
        return self._result

    def __aiter__(self) -> AsyncNarrationStream:
        return self

    async def __anext__(self) -> str:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Stop early; closes the upstream response."""
        await self._gen.aclose()


def _as_prompts(prompts: Any) -> Prompts:
    if hasattr(prompts, "offline") and hasattr(prompts, "messages"):
        return prompts
    from shared.game.narration import PromptBook  # a World: wrap it (lazy: another package)

    return PromptBook(prompts)


class Narrator:
    """Turns narration requests into prose, degrading to offline text on any upstream trouble.

    ``backend`` picks the async face: ``"threadpool"`` runs the sync client in the shared
    thread pool (``chat_threaded``); anything else uses ``chat_async``.
    """

    def __init__(
        self,
        prompts: Any,
        settings: Settings,
        client: DeepSeekClient | None = None,
        backend: str = "httpx",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown narrator backend {backend!r}; use one of {BACKENDS}")
        self.prompts = _as_prompts(prompts)
        self.settings = settings
        self.client = client
        self.backend = backend
        self._log = get_logger("narrator")

    @property
    def online(self) -> bool:
        """True when calls go to DeepSeek (a client with an API key)."""
        return self.client is not None and self.client.configured and self.settings.llm_enabled

    def _degraded(self, text: str, reason: str) -> Narration:
        if reason != NO_API_KEY:
            self._log.info("narration degraded: %s", reason)
        metrics.inc_degraded(reason)
        return Narration(text, True, None, None, reason)

    # -- one-shot -----------------------------------------------------------------------

    def narrate(self, req: Any, user_id: str | None = None) -> Narration:
        """Narrate ``req`` with the blocking client."""
        if not self.online:
            return self._degraded(self.prompts.offline(req), NO_API_KEY)
        assert self.client is not None
        try:
            result = self.client.chat(self.prompts.messages(req), user_id=user_id)
        except LLMError as err:
            return self._degraded(self.prompts.offline(req), err.reason)
        return _online(result)

    async def narrate_async(self, req: Any, user_id: str | None = None) -> Narration:
        """Narrate ``req`` on the event loop (``chat_async`` or ``chat_threaded``)."""
        if not self.online:
            return self._degraded(self.prompts.offline(req), NO_API_KEY)
        assert self.client is not None
        face = self.client.chat_threaded if self.backend == "threadpool" else (
            self.client.chat_async
        )
        try:
            result = await face(self.prompts.messages(req), user_id=user_id)
        except LLMError as err:
            return self._degraded(self.prompts.offline(req), err.reason)
        return _online(result)

    def complete(self, prompt: str) -> Narration:
        """Answer a raw prompt (the ``/api/llm`` route), blocking."""
        if not self.online:
            return self._degraded(self.prompts.offline_raw(prompt), NO_API_KEY)
        assert self.client is not None
        try:
            result = self.client.chat(self.prompts.raw_messages(prompt))
        except LLMError as err:
            return self._degraded(self.prompts.offline_raw(prompt), err.reason)
        return _online(result)

    async def complete_async(self, prompt: str) -> Narration:
        """Answer a raw prompt (the ``/api/llm`` route) on the event loop."""
        if not self.online:
            return self._degraded(self.prompts.offline_raw(prompt), NO_API_KEY)
        assert self.client is not None
        face = self.client.chat_threaded if self.backend == "threadpool" else (
            self.client.chat_async
        )
        try:
            result = await face(self.prompts.raw_messages(prompt))
        except LLMError as err:
            return self._degraded(self.prompts.offline_raw(prompt), err.reason)
        return _online(result)

    # -- streaming ----------------------------------------------------------------------

    def stream(self, req: Any, user_id: str | None = None) -> NarrationStream:
        """Deltas of the narration of ``req`` (blocking); ``.result`` when exhausted."""
        return NarrationStream(lambda sink: self._stream(sink, req, user_id))

    def _stream(
        self, sink: NarrationStream, req: Any, user_id: str | None
    ) -> Generator[str, None, None]:
        if not self.online:
            sink._result = self._degraded(self.prompts.offline(req), NO_API_KEY)
            yield sink._result.text
            return
        assert self.client is not None
        parts: list[str] = []
        try:
            upstream = self.client.stream(self.prompts.messages(req), user_id=user_id)
            try:
                for delta in upstream:
                    parts.append(delta)
                    yield delta
            finally:
                upstream.close()
        except LLMError as err:
            sink._result = self._fallback(parts, lambda: self.prompts.offline(req), err.reason)
            if not parts:
                yield sink._result.text
            return
        assert upstream.result is not None
        sink._result = _online(upstream.result)

    def astream(self, req: Any, user_id: str | None = None) -> AsyncNarrationStream:
        """Async deltas of the narration of ``req``; ``.result`` when exhausted."""
        return AsyncNarrationStream(lambda sink: self._astream(sink, req, user_id))

    async def _astream(
        self, sink: AsyncNarrationStream, req: Any, user_id: str | None
    ) -> AsyncGenerator[str, None]:
        if not self.online:
            sink._result = self._degraded(self.prompts.offline(req), NO_API_KEY)
            yield sink._result.text
            return
        assert self.client is not None
        parts: list[str] = []
        try:
            upstream = self.client.astream(self.prompts.messages(req), user_id=user_id)
            try:
                async for delta in upstream:
                    parts.append(delta)
                    yield delta
            finally:
                await upstream.aclose()  # also on cancellation: the upstream must close
        except LLMError as err:
            sink._result = self._fallback(parts, lambda: self.prompts.offline(req), err.reason)
            if not parts:
                yield sink._result.text
            return
        assert upstream.result is not None
        sink._result = _online(upstream.result)

    def _fallback(self, parts: list[str], offline: Callable[[], str], reason: str) -> Narration:
        if parts:
            # Keep what the player already saw; appending offline prose would contradict it.
            return self._degraded("".join(parts), reason)
        return self._degraded(offline(), reason)
