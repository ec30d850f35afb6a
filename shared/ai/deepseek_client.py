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
deadlines, retry decisions, the breaker, stats and logging in :mod:`shared.ai.calls`. The
faces below only send, read and sleep, so a table of upstream behaviours can be run against
every face to show they behave alike.

Timeouts: ``connect`` and ``read`` per attempt, plus one total deadline per call across all
attempts. DeepSeek's keep-alive bytes reset httpx's read timer, so the deadline is also
enforced while reading (``asyncio.timeout`` in async faces, a clock check per chunk in sync).
"""

from __future__ import annotations

import asyncio
import functools
import random
import ssl
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterable
from typing import Any

import httpx

from shared.ai.breaker import CircuitBreaker
from shared.ai.calls import Call, CallTracker, ClientStats
from shared.ai.errors import LLMError, LLMNotConfigured, LLMTimeout
from shared.ai.executor import get_executor
from shared.ai.protocol import (
    TRANSPORT_ERRORS,
    ChatProtocol,
    ChatResult,
    Completion,
    Messages,
    PreparedRequest,
    error_from_exception,
    status_error,
)
from shared.ai.retry import RetryPolicy
from shared.ai.sse import SSEDecoder, StreamAssembler
from shared.ai.streams import AsyncStream, Finish, Stream
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


def _deltas(asm: StreamAssembler, payloads: Iterable[str]) -> list[str]:
    out = []
    for payload in payloads:
        delta = asm.feed(payload)
        if delta:
            out.append(delta)
    return out


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

    def _prepare(self, messages: Messages, stream: bool, kw: dict[str, Any]) -> PreparedRequest:
        if not self.settings.llm_enabled:
            self.stats._rejected(LLMNotConfigured.reason)
            raise LLMNotConfigured("DEEPSEEK_API_KEY is not set")
        return self._proto.build(messages, stream=stream, **kw)

    def _request(self, prepared: PreparedRequest, call: Call, remaining: float) -> httpx.Request:
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

    # -- sync faces ---------------------------------------------------------------------

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
        kw = {"model": model, "max_tokens": max_tokens, "temperature": temperature,
              "user_id": user_id, "thinking": thinking}
        prepared = self._prepare(messages, False, kw)
        call = self._tracker.start(prepared.model)
        try:
            transport = self._http()
            while True:
                try:
                    remaining = call.begin_attempt()
                    status, headers, body = self._send(transport, prepared, call, remaining)
                    completion = self._proto.parse_response(status, headers, body)
                    return call.succeeded(completion)
                except LLMError as exc:
                    err = exc
                except TRANSPORT_ERRORS as exc:
                    err = error_from_exception(exc)
                delay = call.retry_delay(err)
                if delay is None:
                    raise call.failed(err)
                self._sleep(delay)
        finally:
            call.abandon()

    def _send(
        self,
        transport: httpx.BaseTransport,
        prepared: PreparedRequest,
        call: Call,
        remaining: float,
    ) -> tuple[int, httpx.Headers, bytes]:
        if not self._sync_slots.acquire(timeout=remaining):
            raise LLMTimeout("no free upstream slot before the deadline")
        try:
            response = transport.handle_request(self._request(prepared, call, remaining))
            try:
                return response.status_code, response.headers, self._read(response, call)
            finally:
                response.close()
        finally:
            self._sync_slots.release()

    @staticmethod
    def _read(response: httpx.Response, call: Call) -> bytes:
        parts = []
        for chunk in response.iter_bytes():
            parts.append(chunk)
            if call.expired():  # keep-alive bytes keep the read timer from firing
                raise call.deadline_error()
        return b"".join(parts)

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
        """Text deltas as they arrive (blocking). Retried only before the first delta."""
        kw = {"model": model, "max_tokens": max_tokens, "temperature": temperature,
              "user_id": user_id, "thinking": thinking}
        prepared = self._prepare(messages, True, kw)
        return Stream(lambda finish: self._stream(finish, prepared))

    def _stream(
        self, finish: Finish[ChatResult], prepared: PreparedRequest
    ) -> Generator[str, None, None]:
        call = self._tracker.start(prepared.model, stream=True)
        yielded = False
        try:
            transport = self._http()
            while True:
                try:
                    remaining = call.begin_attempt()
                    if not self._sync_slots.acquire(timeout=remaining):
                        raise LLMTimeout("no free upstream slot before the deadline")
                    try:
                        response = transport.handle_request(
                            self._request(prepared, call, remaining)
                        )
                        try:
                            if response.status_code != 200:
                                body = self._read(response, call)
                                raise status_error(response.status_code, response.headers, body)
                            decoder, asm = SSEDecoder(), StreamAssembler()
                            for chunk in response.iter_bytes():
                                if call.expired():
                                    raise call.deadline_error()
                                for delta in _deltas(asm, decoder.feed(chunk)):
                                    yielded = True
                                    yield delta
                            for delta in _deltas(asm, decoder.close()):
                                yielded = True
                                yield delta
                            completion = Completion(*asm.finish())
                        finally:
                            response.close()
                    finally:
                        self._sync_slots.release()
                    finish(call.succeeded(completion))
                    return
                except LLMError as exc:
                    err = exc
                except TRANSPORT_ERRORS as exc:
                    err = error_from_exception(exc)
                delay = None if yielded else call.retry_delay(err)
                if delay is None:
                    raise call.failed(err)
                self._sleep(delay)
        finally:
            call.abandon()

    # -- async faces --------------------------------------------------------------------

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
        """One completion on the event loop. Raises an :class:`LLMError` after its retries."""
        kw = {"model": model, "max_tokens": max_tokens, "temperature": temperature,
              "user_id": user_id, "thinking": thinking}
        prepared = self._prepare(messages, False, kw)
        call = self._tracker.start(prepared.model)
        try:
            transport, slots = self._ahttp()
            while True:
                try:
                    remaining = call.begin_attempt()
                    request = self._request(prepared, call, remaining)
                    try:
                        # Keep-alive bytes reset the read timer: the deadline covers it all.
                        async with asyncio.timeout(remaining):
                            async with slots:
                                response = await transport.handle_async_request(request)
                                body = await _read_body(response)
                    except TimeoutError:
                        raise call.deadline_error() from None
                    completion = self._proto.parse_response(
                        response.status_code, response.headers, body
                    )
                    return call.succeeded(completion)
                except LLMError as exc:
                    err = exc
                except TRANSPORT_ERRORS as exc:
                    err = error_from_exception(exc)
                delay = call.retry_delay(err)
                if delay is None:
                    raise call.failed(err)
                await self._async_sleep(delay)
        finally:
            call.abandon()

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
        """Async text deltas as they arrive. Retried only before the first delta."""
        kw = {"model": model, "max_tokens": max_tokens, "temperature": temperature,
              "user_id": user_id, "thinking": thinking}
        prepared = self._prepare(messages, True, kw)
        return AsyncStream(lambda finish: self._astream(finish, prepared))

    async def _astream(
        self, finish: Finish[ChatResult], prepared: PreparedRequest
    ) -> AsyncGenerator[str, None]:
        call = self._tracker.start(prepared.model, stream=True)
        yielded = False
        try:
            transport, slots = self._ahttp()
            while True:
                try:
                    remaining = call.begin_attempt()
                    request = self._request(prepared, call, remaining)
                    async with slots:
                        try:
                            async with asyncio.timeout(remaining):
                                response = await transport.handle_async_request(request)
                        except TimeoutError:
                            raise call.deadline_error() from None
                        try:
                            if response.status_code != 200:
                                body = await self._aread(response, call)
                                raise status_error(response.status_code, response.headers, body)
                            decoder, asm = SSEDecoder(), StreamAssembler()
                            chunks = response.aiter_bytes()
                            while True:
                                # The timeout wraps the read only, never a yield: a timeout
                                # spanning a yield would cancel the consumer's code instead.
                                try:
                                    async with asyncio.timeout(max(call.remaining(), 0.0)):
                                        chunk = await anext(chunks)
                                except StopAsyncIteration:
                                    break
                                except TimeoutError:
                                    raise call.deadline_error() from None
                                for delta in _deltas(asm, decoder.feed(chunk)):
                                    yielded = True
                                    yield delta
                            for delta in _deltas(asm, decoder.close()):
                                yielded = True
                                yield delta
                            completion = Completion(*asm.finish())
                        finally:
                            await response.aclose()
                    finish(call.succeeded(completion))
                    return
                except LLMError as exc:
                    err = exc
                except TRANSPORT_ERRORS as exc:
                    err = error_from_exception(exc)
                delay = None if yielded else call.retry_delay(err)
                if delay is None:
                    raise call.failed(err)
                await self._async_sleep(delay)
        finally:
            call.abandon()

    @staticmethod
    async def _aread(response: httpx.Response, call: Call) -> bytes:
        try:
            async with asyncio.timeout(max(call.remaining(), 0.0)):
                return await response.aread()
        except TimeoutError:
            raise call.deadline_error() from None

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
