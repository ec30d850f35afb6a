"""The DeepSeek chat client: one sans-I/O core, several faces.

=============  =========================================  ==========================
face           I/O                                        use
=============  =========================================  ==========================
chat           httpx sync transport (HTTPTransport)       Flask, Celery workers
chat_async     httpx async transport (aiohttp by default)  Quart
chat_threaded  ``chat`` in a process-wide thread pool     Quart "threadpool" backend
stream         httpx sync transport, SSE                  sync streaming
astream        httpx async transport, SSE                 async streaming
=============  =========================================  ==========================

The faces speak httpx's transport API (``httpx.Request`` in, ``httpx.Response`` out) and
skip ``httpx.Client.send``: its cookie jar (urllib compatibility objects on every
response), auth and redirect machinery and per-request log line cost ~40% of the client's
CPU per call at 500 in flight (scripts/bench_llm_client.py), and one POST endpoint with a
bearer key needs none of them. Proxies are therefore not read from the environment; pass
a transport configured with one if needed.

Request building and parsing live in :mod:`shared.ai.protocol` and :mod:`shared.ai.sse`;
the call itself (attempts, retries, the deadline, the breaker, stats and logging) is written
once, as the sans-I/O generator :func:`shared.ai.flow.call_flow`. Every face runs it with
one of two drivers below, ``_drive`` (blocking) and ``_adrive`` (awaiting), which only
send, read and sleep; so a table of upstream behaviours can be run against every face to
show they behave alike.

Timeouts: ``connect`` and ``read`` per attempt, plus one total deadline per call across all
attempts. DeepSeek's keep-alive bytes reset a read timer, and httpcore fixes a blocking
response's read timeout once for the whole body, so the deadline is also enforced while
reading: ``asyncio.timeout`` around every await in the async driver; in the blocking one a
watchdog (:mod:`shared.ai.watchdog`) that shuts down a socket still blocked at the
deadline, plus a clock check between chunks.
"""

from __future__ import annotations

import asyncio
import functools
import random
import ssl
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any

import httpx

from shared.ai.breaker import CircuitBreaker
from shared.ai.calls import Call, CallTracker, ClientStats
from shared.ai.errors import LLMNotConfigured, LLMTimeout
from shared.ai.executor import get_executor
from shared.ai.flow import Emit, Flow, ReadBody, ReadChunk, Release, Send, Sleep, Step, call_flow
from shared.ai.protocol import ChatProtocol, ChatResult, Messages, PreparedRequest
from shared.ai.retry import RetryPolicy
from shared.ai.streams import AsyncStream, Finish, Stream
from shared.ai.watchdog import Watch, get_watchdog
from shared.config import ConfigError, Settings
from shared.logging_setup import add_secret, get_logger

TRANSPORTS = ("aiohttp", "httpx", "httpx-aiohttp")


ChatStream = Stream[ChatResult]
"""Text deltas of one streamed answer (blocking); ``.result`` is the ChatResult once exhausted."""
AsyncChatStream = AsyncStream[ChatResult]
"""Async text deltas of one streamed answer; ``.result`` once exhausted."""


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying SSL context per process: building one costs ~50-90 ms of CPU."""
    return httpx.create_ssl_context()


def _compressed(headers: httpx.Headers) -> bool:
    # On raw bytes: Headers.get() first sniffs the encoding of every header.
    for key, value in headers.raw:
        if key.lower() == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
            return True
    return False


async def _read_body(response: httpx.Response) -> bytes:
    """The whole body, then the response closed.

    We ask for ``Accept-Encoding: identity``, so the bytes from the transport's stream
    are the body; httpx's decoding layers (a measurable share of the per-call CPU) are
    only used if a server compresses anyway.
    """
    try:
        if _compressed(response.headers):
            return await response.aread()
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        return b"".join([chunk async for chunk in stream])
    finally:
        await response.aclose()


class DeepSeekClient:
    """Calls DeepSeek's chat API with retries, deadlines, a concurrency cap and a breaker.

    ``transport`` / ``async_transport`` replace the httpx transports (tests pass
    ``httpx.MockTransport``); ``sleep`` / ``async_sleep`` / ``clock`` / ``rng`` make
    retries and deadlines testable without waiting. Nothing is opened until first use:
    the async transport (its pool) is created inside the running loop on the first async
    call, and again if a later call runs on another loop.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        async_sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] | None = None,
        rng: Callable[[], float] | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if settings.llm_transport not in TRANSPORTS:
            raise ConfigError(
                f"LLM_TRANSPORT={settings.llm_transport!r}; choose one of {', '.join(TRANSPORTS)}"
            )
        self.settings = settings
        self._proto = ChatProtocol(settings)
        self._url = httpx.URL(self._proto.url)
        clock = clock or time.monotonic
        self.breaker = breaker or CircuitBreaker(
            settings.breaker_failures, settings.breaker_cooldown, clock=clock
        )
        self.policy = RetryPolicy(max_retries=settings.llm_max_retries, rng=rng or random.random)
        self.stats = ClientStats()
        self._tracker = CallTracker(
            total_timeout=settings.llm_total_timeout,
            connect_timeout=settings.llm_connect_timeout,
            read_timeout=settings.llm_read_timeout,
            breaker=self.breaker,
            policy=self.policy,
            clock=clock,
            logger=get_logger("llm"),
            stats=self.stats,
        )
        self._sleep = sleep or time.sleep
        self._async_sleep = async_sleep or asyncio.sleep
        self._transport = transport
        self._async_transport = async_transport
        concurrency = max(1, settings.llm_max_concurrency)
        self._concurrency = concurrency
        self._limits = httpx.Limits(
            max_connections=concurrency,
            max_keepalive_connections=concurrency,
            keepalive_expiry=30.0,
        )
        # httpcore's pool bookkeeping turns quadratic when it runs near its connection
        # limit with hundreds of idle keep-alive connections: at 500 in flight, 512/512
        # measured ~29 ms CPU per call, 1024/100 ~2.7 ms. The semaphore caps in-flight
        # calls; the pool limits only have to stay out of that regime.
        self._httpcore_limits = httpx.Limits(
            max_connections=2 * concurrency,
            max_keepalive_connections=min(concurrency, 100),
            keepalive_expiry=30.0,
        )
        self._lock = threading.Lock()
        self._sync: httpx.BaseTransport | None = None
        self._sync_slots = threading.BoundedSemaphore(concurrency)
        self._watchdog = get_watchdog()  # its thread starts on the first watched response
        self._async: httpx.AsyncBaseTransport | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._async_slots: asyncio.Semaphore | None = None
        # Scrub the literal key from every redacting log handler (keys need not look like sk-).
        add_secret(settings.deepseek_api_key)

    # -- set-up -------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        """True when an API key is set, so calls can go upstream."""
        return self.settings.llm_enabled

    def _http(self) -> httpx.BaseTransport:
        if self._sync is None:
            with self._lock:
                if self._sync is None:
                    self._sync = self._transport or httpx.HTTPTransport(
                        limits=self._httpcore_limits, verify=_ssl_context()
                    )
        return self._sync

    def _ahttp(self) -> tuple[httpx.AsyncBaseTransport, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            # First use, or a new loop (connections belong to the loop that opened them).
            self._async = self._async_transport or self._default_async_transport()
            self._async_slots = asyncio.Semaphore(self._concurrency)
            self._async_loop = loop
        assert self._async_slots is not None
        return self._async, self._async_slots

    def _default_async_transport(self) -> httpx.AsyncBaseTransport:
        kind = self.settings.llm_transport
        if kind == "aiohttp":
            from shared.ai.aiohttp_transport import AiohttpTransport

            return AiohttpTransport(max_connections=self._concurrency)
        if kind == "httpx-aiohttp":
            from httpx_aiohttp import AiohttpTransport as PackagedTransport

            return PackagedTransport(limits=self._limits, trust_env=False)
        return httpx.AsyncHTTPTransport(limits=self._httpcore_limits, verify=_ssl_context())

    def close(self) -> None:
        """Close the sync connection pool (the next call opens a new one)."""
        with self._lock:
            transport, self._sync = self._sync, None
        if transport is not None:
            transport.close()

    async def aclose(self) -> None:
        """Close the async connection pool (call from the loop that used it) and the sync one."""
        transport, self._async = self._async, None
        loop, self._async_loop = self._async_loop, None
        if transport is not None and loop is asyncio.get_running_loop():
            await transport.aclose()
        self.close()

    def _start(
        self,
        messages: Messages,
        stream: bool,
        model: str | None,
        max_tokens: int | None,
        temperature: float | None,
        user_id: str | None,
        thinking: bool | None,
    ) -> Flow:
        """The flow of one call (LLMNotConfigured without an API key)."""
        if not self.settings.llm_enabled:
            self.stats._rejected(LLMNotConfigured.reason)
            raise LLMNotConfigured("DEEPSEEK_API_KEY is not set")
        prepared = self._proto.build(
            messages, stream=stream, model=model, max_tokens=max_tokens,
            temperature=temperature, user_id=user_id, thinking=thinking,
        )
        return call_flow(self._tracker, self._proto, prepared, self._request)

    def _request(self, call: Call, remaining: float, prepared: PreparedRequest) -> httpx.Request:
        # stream= and ready-encoded headers skip httpx's content sniffing and header
        # normalising, which cost more than the rest of the request building together.
        content = prepared.content
        request = httpx.Request(
            "POST",
            self._url,
            headers=[*prepared.raw_headers, (b"Content-Length", b"%d" % len(content))],
            stream=httpx.ByteStream(content),
            extensions={"timeout": call.timeouts(remaining)},
        )
        request.read()  # sets request.content for transports that want bytes
        return request

    # -- the faces ------------------------------------------------------------------------

    def chat(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        user_id: str | None = None,
        thinking: bool | None = None,
    ) -> ChatResult:
        """One completion (blocking). Raises an :class:`LLMError` after its retries."""
        io = _SyncIO(self._start(messages, False, model, max_tokens, temperature, user_id,
                                 thinking), self)
        try:
            io.pump()  # a non-stream call emits no deltas: this runs it to its end
            return io.result
        finally:
            io.close()

    def stream(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        user_id: str | None = None,
        thinking: bool | None = None,
    ) -> Stream[ChatResult]:
        """Text deltas as they arrive (blocking), then ``.result``.

        Retried only before the first delta; the call's deadline covers the whole stream.
        """
        flow = self._start(messages, True, model, max_tokens, temperature, user_id, thinking)
        return Stream(functools.partial(self._drive, flow))

    async def chat_async(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        user_id: str | None = None,
        thinking: bool | None = None,
    ) -> ChatResult:
        """One completion on the event loop. Raises an :class:`LLMError` after its retries;
        a cancelled call closes its upstream response and propagates."""
        flow = self._start(messages, False, model, max_tokens, temperature, user_id, thinking)
        io = _AsyncIO(flow, self)
        try:
            await io.pump()
            return io.result
        finally:
            await io.close()  # also on cancellation: the upstream must close

    def astream(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        user_id: str | None = None,
        thinking: bool | None = None,
    ) -> AsyncStream[ChatResult]:
        """Async text deltas as they arrive, then ``.result``. Retried only before the
        first delta."""
        flow = self._start(messages, True, model, max_tokens, temperature, user_id, thinking)
        return AsyncStream(lambda finish: self._adrive(flow, finish))

    async def chat_threaded(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        user_id: str | None = None,
        thinking: bool | None = None,
    ) -> ChatResult:
        """``chat`` run in the process-wide pool of ``LLM_MAX_WORKERS`` threads."""
        loop = asyncio.get_running_loop()
        job = functools.partial(
            self.chat, messages, model=model, max_tokens=max_tokens,
            temperature=temperature, user_id=user_id, thinking=thinking,
        )
        return await loop.run_in_executor(get_executor(self.settings.llm_max_workers), job)

    # -- the two I/O drivers of the flow ------------------------------------------------

    def _drive(self, flow: Flow, finish: Finish[ChatResult]) -> Generator[str, None, None]:
        """Perform the flow's steps with blocking I/O; deltas are yielded, the result
        handed to ``finish``. The deadline holds during reads: a watchdog shuts a socket
        that is still blocked when it passes, and the clock is checked between chunks."""
        io = _SyncIO(flow, self)
        try:
            while (emit := io.pump()) is not None:
                yield emit.text  # outside the pump: the consumer's errors are its own
            finish(io.result)
        finally:
            io.close()

    async def _adrive(
        self, flow: Flow, finish: Finish[ChatResult]
    ) -> AsyncGenerator[str, None]:
        """Perform the flow's steps on the event loop; see :meth:`_drive`. Every wait is
        bounded by ``asyncio.timeout``, never around a ``yield`` (that would cancel the
        consumer's code instead)."""
        io = _AsyncIO(flow, self)
        try:
            while (emit := await io.pump()) is not None:
                yield emit.text
            finish(io.result)
        finally:
            await io.close()  # also on cancellation: the upstream must close


class _Runner:
    """Advances a flow: the last step's answer (or error) in, the next step out. The two
    I/O classes below extend it with the I/O that answers the steps; their ``pump`` runs
    steps until the flow emits a delta (returned) or ends (None, ``result`` is set)."""

    __slots__ = ("answer", "error", "flow", "result")

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.answer: Any = None
        self.error: Exception | None = None
        self.result: ChatResult

    def advance(self) -> Step | None:
        """The next step, or None once the flow returned (then ``result`` is set)."""
        answer, error = self.answer, self.error
        self.answer = self.error = None
        try:
            return self.flow.send(answer) if error is None else self.flow.throw(error)
        except StopIteration as stop:
            self.result = stop.value
            return None


class _SyncIO(_Runner):
    """The blocking I/O of one call: its slot, its response, its watch."""

    __slots__ = ("_call", "_chunks", "_client", "_held", "_response", "_watch")

    def __init__(self, flow: Flow, client: DeepSeekClient) -> None:
        super().__init__(flow)
        self._client = client
        self._call: Call | None = None
        self._response: httpx.Response | None = None
        self._watch: Watch | None = None
        self._chunks: Iterator[bytes] = iter(())
        self._held = False

    def pump(self) -> Emit | None:
        """Perform steps until the next delta (returned) or the end of the flow (None)."""
        while (step := self.advance()) is not None:
            if type(step) is Emit:
                return step
            try:
                self.answer = self.perform(step)
            except Exception as exc:  # handed to the flow, which maps or re-raises it
                self.error = exc
        return None

    def close(self) -> None:
        """Release what the call holds and close the flow (a no-op once it ended)."""
        self.release()
        self.flow.close()

    def perform(self, step: Step) -> Any:
        kind = type(step)
        if kind is Send:
            assert isinstance(step, Send)
            return self._send(step)
        if kind is ReadChunk:
            return self._chunk()
        if kind is ReadBody:
            return self._body()
        if kind is Release:
            return self.release()
        assert isinstance(step, Sleep)
        self._client._sleep(step.seconds)
        return None

    def _send(self, step: Send) -> tuple[httpx.Response, bytes | None]:
        client = self._client
        started = time.monotonic()
        if not client._sync_slots.acquire(timeout=step.remaining):
            raise LLMTimeout("no free upstream slot before the deadline")
        self._held = True
        self._call = step.call
        self._response = response = client._http().handle_request(step.request)
        self._watch = client._watchdog.arm(started + step.remaining, response)
        self._chunks = _raw_chunks(response)
        if not step.read_body:
            return response, None
        body = self._body()
        self.release()
        return response, body

    def _chunk(self) -> bytes | None:
        for chunk in self._chunks:
            if chunk:
                self._check()
                return chunk
        return None

    def _body(self) -> bytes:
        parts = []
        for chunk in self._chunks:
            if chunk:
                parts.append(chunk)
                self._check()  # keep-alive bytes keep the read timer from firing
        return b"".join(parts)

    def _check(self) -> None:
        assert self._call is not None
        if self._call.expired():
            raise TimeoutError

    def release(self) -> None:
        """Close the response (disarming its watch first) and free the slot; idempotent."""
        response, self._response = self._response, None
        try:
            if response is not None:
                self._client._watchdog.disarm(self._watch)  # before the socket is pooled again
                self._watch = None
                response.close()
        finally:
            if self._held:
                self._held = False
                self._client._sync_slots.release()


class _AsyncIO(_Runner):
    """The awaiting I/O of one call: its slot and its response."""

    __slots__ = ("_call", "_chunks", "_client", "_response", "_slots")

    def __init__(self, flow: Flow, client: DeepSeekClient) -> None:
        super().__init__(flow)
        self._client = client
        self._call: Call | None = None
        self._response: httpx.Response | None = None
        self._chunks: AsyncIterator[bytes] | None = None
        self._slots: asyncio.Semaphore | None = None

    async def pump(self) -> Emit | None:
        """Perform steps until the next delta (returned) or the end of the flow (None)."""
        while (step := self.advance()) is not None:
            if type(step) is Emit:
                return step
            try:
                self.answer = await self.perform(step)
            except Exception as exc:
                self.error = exc
        return None

    async def close(self) -> None:
        """Release what the call holds and close the flow."""
        await self.release()
        self.flow.close()

    async def perform(self, step: Step) -> Any:
        kind = type(step)
        if kind is Send:
            assert isinstance(step, Send)
            return await self._send(step)
        if kind is ReadChunk:
            return await self._chunk()
        if kind is ReadBody:
            return await self._body()
        if kind is Release:
            return await self.release()
        assert isinstance(step, Sleep)
        await self._client._async_sleep(step.seconds)
        return None

    async def _send(self, step: Send) -> tuple[httpx.Response, bytes | None]:
        transport, slots = self._client._ahttp()
        self._call = step.call
        # Keep-alive bytes reset the read timer: the deadline covers slot, send and body.
        async with asyncio.timeout(step.remaining):
            await slots.acquire()
            self._slots = slots
            self._response = response = await transport.handle_async_request(step.request)
            if not step.read_body:
                return response, None
            body = await _read_body(response)
        await self.release()
        return response, body

    def _left(self) -> float:
        assert self._call is not None
        return max(self._call.remaining(), 0.0)

    async def _chunk(self) -> bytes | None:
        if self._chunks is None:
            assert self._response is not None
            self._chunks = _araw_chunks(self._response)
        async with asyncio.timeout(self._left()):
            return await anext(self._chunks, None)

    async def _body(self) -> bytes:
        assert self._response is not None
        async with asyncio.timeout(self._left()):
            return await self._response.aread()

    async def release(self) -> None:
        """Close the response and free the slot; idempotent."""
        response, self._response = self._response, None
        slots, self._slots = self._slots, None
        self._chunks = None
        try:
            if response is not None:
                await response.aclose()
        finally:
            if slots is not None:
                slots.release()


def _raw_chunks(response: httpx.Response) -> Iterator[bytes]:
    """The body's chunks; the transport's own bytes unless the server compressed anyway."""
    if _compressed(response.headers):
        return response.iter_bytes()
    stream = response.stream
    assert isinstance(stream, httpx.SyncByteStream)
    return iter(stream)


def _araw_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body's chunks on the event loop (see :func:`_raw_chunks`)."""
    if _compressed(response.headers):
        return response.aiter_bytes()
    stream = response.stream
    assert isinstance(stream, httpx.AsyncByteStream)
    return stream.__aiter__()
