"""The narrator: DeepSeek prose when it can, the offline templates when it cannot.

The narrator never raises for upstream trouble. With no API key, when a call fails after
its retries, or while the circuit breaker is open, it returns the offline text with
``degraded=True`` and a short ``reason`` (``no_api_key``, ``timeout``, ``status_429``,
``circuit_open``...). A stream that fails after some text keeps that text and adds
nothing invented; it is marked degraded. Cancellation (a client that went away) is not
upstream trouble: it propagates, and the upstream response is closed on the way out.

Two faces with the same method names (httpx style): :class:`Narrator` blocks (Flask, the
Celery worker), :class:`AsyncNarrator` awaits (Quart). ``narrate``, ``stream`` and
``complete`` take a keyword-only ``offline_reason``: when set no LLM call is made and the
offline text comes back degraded with that reason (a spent budget, for instance).

``prompts`` is any object with ``messages(req)``, ``offline(req)``, ``raw_messages(prompt)``
and ``offline_raw(prompt)`` (``shared.game.narration.PromptBook`` in the apps). A ``World``
is accepted too and wrapped in a ``PromptBook``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

from shared import metrics
from shared.ai.deepseek_client import DeepSeekClient
from shared.ai.errors import LLMError
from shared.ai.protocol import ChatResult, Messages
from shared.ai.streams import AsyncStream, Finish, Stream
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


NarrationStream = Stream[Narration]
"""The blocking narration stream (text deltas, then ``.result``)."""
AsyncNarrationStream = AsyncStream[Narration]
"""The async narration stream (text deltas, then ``.result``)."""


def _online(result: ChatResult) -> Narration:
    return Narration(result.text, False, result.model, dict(result.usage), None)


def _as_prompts(prompts: Any) -> Prompts:
    if hasattr(prompts, "offline") and hasattr(prompts, "messages"):
        return prompts  # type: ignore[no-any-return]
    from shared.game.narration import PromptBook  # a World: wrap it (lazy: another package)

    return PromptBook(prompts)


@dataclass(frozen=True, slots=True)
class _Ask:
    """One narration job: how to build its messages and its offline text, who asks."""

    messages: Callable[[], Messages]
    offline: Callable[[], str]
    user_id: str | None
    offline_reason: str | None


class _Told:
    """What a stream has shown so far, so a failure keeps it instead of contradicting it."""

    def __init__(self, narrator: _NarratorBase, ask: _Ask) -> None:
        self._narrator = narrator
        self._ask = ask
        self.parts: list[str] = []

    def seen(self, delta: str) -> str:
        self.parts.append(delta)
        return delta

    def failed(self, reason: str) -> Narration:
        if self.parts:
            # Keep what the player already saw; appending offline prose would contradict it.
            return self._narrator._degraded("".join(self.parts), reason)
        return self._narrator._degraded(self._ask.offline(), reason)


class _NarratorBase:
    """What both faces share: configuration, the offline decision, degrading."""

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

    def _story(self, req: Any, user_id: str | None, offline_reason: str | None) -> _Ask:
        return _Ask(lambda: self.prompts.messages(req), lambda: self.prompts.offline(req),
                    user_id, offline_reason)

    def _raw(self, prompt: str, user_id: str | None, offline_reason: str | None) -> _Ask:
        return _Ask(lambda: self.prompts.raw_messages(prompt),
                    lambda: self.prompts.offline_raw(prompt), user_id, offline_reason)

    def _offline(self, ask: _Ask) -> Narration | None:
        """The narration told without the LLM, or None when the LLM should be asked."""
        if ask.offline_reason is not None:
            return self._degraded(ask.offline(), ask.offline_reason)
        if not self.online:
            return self._degraded(ask.offline(), NO_API_KEY)
        return None


class Narrator(_NarratorBase):
    """The blocking face (Flask, the Celery worker): prose, degrading to offline text on any
    upstream trouble.

    The old async names (``narrate_async``, ``astream``, ``complete_async``) stay as thin
    wrappers over an :class:`AsyncNarrator` on the same client; ``backend="threadpool"``
    makes them use ``chat_threaded``, anything else ``chat_async``.
    """

    def narrate(
        self, req: Any, user_id: str | None = None, *, offline_reason: str | None = None
    ) -> Narration:
        """Narrate ``req``."""
        return self._tell(self._story(req, user_id, offline_reason))

    def complete(
        self, prompt: str, user_id: str | None = None, *, offline_reason: str | None = None
    ) -> Narration:
        """Answer a raw prompt (the ``/api/llm`` route)."""
        return self._tell(self._raw(prompt, user_id, offline_reason))

    def stream(
        self, req: Any, user_id: str | None = None, *, offline_reason: str | None = None
    ) -> Stream[Narration]:
        """Deltas of the narration of ``req``; ``.result`` once exhausted."""
        ask = self._story(req, user_id, offline_reason)
        return Stream(lambda finish: self._stream(finish, ask))

    def _tell(self, ask: _Ask) -> Narration:
        told = self._offline(ask)
        if told is not None:
            return told
        assert self.client is not None
        try:
            return _online(self.client.chat(ask.messages(), user_id=ask.user_id))
        except LLMError as err:
            return self._degraded(ask.offline(), err.reason)

    def _stream(self, finish: Finish[Narration], ask: _Ask) -> Generator[str, None, None]:
        told = self._offline(ask)
        if told is not None:
            finish(told)
            yield told.text
            return
        assert self.client is not None
        sofar = _Told(self, ask)
        try:
            with self.client.stream(ask.messages(), user_id=ask.user_id) as upstream:
                for delta in upstream:
                    yield sofar.seen(delta)
        except LLMError as err:
            finish(told := sofar.failed(err.reason))
            if not sofar.parts:
                yield told.text
            return
        finish(_online(upstream.result))

    # -- the old async names, kept for existing callers -------------------------------

    @property
    def aio(self) -> AsyncNarrator:
        """The async face on the same prompts, settings, client and backend."""
        return AsyncNarrator(self.prompts, self.settings, self.client, self.backend)

    async def narrate_async(
        self, req: Any, user_id: str | None = None, *, offline_reason: str | None = None
    ) -> Narration:
        """``AsyncNarrator.narrate``."""
        return await self.aio.narrate(req, user_id, offline_reason=offline_reason)

    async def complete_async(
        self, prompt: str, user_id: str | None = None, *, offline_reason: str | None = None
    ) -> Narration:
        """``AsyncNarrator.complete``."""
        return await self.aio.complete(prompt, user_id, offline_reason=offline_reason)

    def astream(
        self, req: Any, user_id: str | None = None, *, offline_reason: str | None = None
    ) -> AsyncStream[Narration]:
        """``AsyncNarrator.stream``."""
        return self.aio.stream(req, user_id, offline_reason=offline_reason)


class AsyncNarrator(_NarratorBase):
    """The async face (Quart): the same methods as :class:`Narrator`, as coroutines
    (``stream`` returns an async iterator). ``backend="threadpool"`` runs the blocking client
    in the shared thread pool (``chat_threaded``); anything else uses ``chat_async``.
    """

    async def narrate(
        self, req: Any, user_id: str | None = None, *, offline_reason: str | None = None
    ) -> Narration:
        """Narrate ``req``."""
        return await self._tell(self._story(req, user_id, offline_reason))

    async def complete(
        self, prompt: str, user_id: str | None = None, *, offline_reason: str | None = None
    ) -> Narration:
        """Answer a raw prompt (the ``/api/llm`` route)."""
        return await self._tell(self._raw(prompt, user_id, offline_reason))

    def stream(
        self, req: Any, user_id: str | None = None, *, offline_reason: str | None = None
    ) -> AsyncStream[Narration]:
        """Async deltas of the narration of ``req``; ``.result`` once exhausted."""
        ask = self._story(req, user_id, offline_reason)
        return AsyncStream(lambda finish: self._stream(finish, ask))

    async def _tell(self, ask: _Ask) -> Narration:
        told = self._offline(ask)
        if told is not None:
            return told
        assert self.client is not None
        face = self.client.chat_threaded if self.backend == "threadpool" else (
            self.client.chat_async
        )
        try:
            return _online(await face(ask.messages(), user_id=ask.user_id))
        except LLMError as err:
            return self._degraded(ask.offline(), err.reason)

    async def _stream(
        self, finish: Finish[Narration], ask: _Ask
    ) -> AsyncGenerator[str, None]:
        told = self._offline(ask)
        if told is not None:
            finish(told)
            yield told.text
            return
        assert self.client is not None
        sofar = _Told(self, ask)
        try:
            # Leaving the block closes the upstream, also on cancellation.
            async with self.client.astream(ask.messages(), user_id=ask.user_id) as upstream:
                async for delta in upstream:
                    yield sofar.seen(delta)
        except LLMError as err:
            finish(told := sofar.failed(err.reason))
            if not sofar.parts:
                yield told.text
            return
        finish(_online(upstream.result))
