"""One chat call as one flow: attempts, retries, the deadline and the breaker, without I/O.

:func:`call_flow` is a generator (the same idea as h11, or the use cases in
``shared.usecases``): it yields *steps* and is sent each step's answer. The I/O drivers in
:mod:`shared.ai.deepseek_client` (one blocking, one awaiting) perform the steps:

=============  ====================================================  =====================
step           the driver                                            answers
=============  ====================================================  =====================
``Send``       takes an upstream slot, sends, and for a non-stream   ``(response, body)``
               call reads the whole body and releases (body None
               otherwise)
``ReadBody``   reads the rest of the body (a failed stream)          ``bytes``
``ReadChunk``  reads the next chunk of a streamed body               ``bytes``, None at EOF
``Release``    closes the response and frees the slot (idempotent)   None
``Sleep``      sleeps before a retry                                 None
``Emit``       hands a text delta to the consumer                    None
=============  ====================================================  =====================

A driver raises I/O failures *into* the flow (``generator.throw``); the flow maps them to
:class:`~shared.ai.errors.LLMError`, decides whether to retry, and returns the
:class:`~shared.ai.protocol.ChatResult` or raises the final error. Every driver enforces
the call's total deadline during I/O and raises a bare ``TimeoutError`` when it passes.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from shared.ai.calls import Call, CallTracker
from shared.ai.errors import LLMError
from shared.ai.protocol import (
    TRANSPORT_ERRORS,
    ChatProtocol,
    ChatResult,
    Completion,
    PreparedRequest,
    error_from_exception,
)
from shared.ai.sse import SSEDecoder, StreamAssembler


@dataclass(slots=True)
class Send:
    """Send ``request`` within ``remaining`` seconds; with ``read_body`` read the body too."""

    call: Call
    request: httpx.Request
    remaining: float
    read_body: bool


class ReadBody:
    """Read the rest of the body."""


class ReadChunk:
    """Read the next chunk of the body (None at its end)."""


class Release:
    """Close the response and free the upstream slot."""


@dataclass(slots=True)
class Sleep:
    """Wait before the next attempt."""

    seconds: float


@dataclass(slots=True)
class Emit:
    """A text delta for the consumer of a stream."""

    text: str


READ_BODY = ReadBody()
READ_CHUNK = ReadChunk()
RELEASE = Release()

Step = Send | ReadBody | ReadChunk | Release | Sleep | Emit
Flow = Generator[Step, Any, ChatResult]
"""What :func:`call_flow` is: steps out, answers in, the result returned."""


def call_flow(
    tracker: CallTracker,
    proto: ChatProtocol,
    prepared: PreparedRequest,
    request_for: Callable[[Call, float, PreparedRequest], httpx.Request],
) -> Flow:
    """One call with its retries. A stream is retried only while nothing was emitted.

    ``request_for(call, remaining, prepared)`` builds one attempt's request (its timeouts
    bounded by ``remaining``). The call starts (and the breaker is asked) on the first step.
    """
    call = tracker.start(prepared.model, stream=prepared.stream)
    asm: StreamAssembler | None = None  # the current attempt's stream, once it has begun
    try:
        while True:
            try:
                remaining = call.begin_attempt()
                request = request_for(call, remaining, prepared)
                response, body = yield Send(call, request, remaining, not prepared.stream)
                if body is not None or response.status_code != 200:
                    if body is None:
                        body = yield READ_BODY
                        yield RELEASE
                    completion = proto.parse_response(response.status_code, response.headers, body)
                else:
                    asm = StreamAssembler()
                    completion = yield from _read_stream(asm)
                    yield RELEASE
                return call.succeeded(completion)
            except LLMError as exc:
                err = exc
            except TimeoutError:  # a driver's deadline guard (httpx's own are not OSErrors)
                err = call.deadline_error()
            except TRANSPORT_ERRORS as exc:
                # A watchdog that closed a stalled socket shows up as a broken connection.
                err = call.deadline_error() if call.expired() else error_from_exception(exc)
            yield RELEASE
            emitted = asm is not None and bool(asm.parts)
            delay = None if emitted else call.retry_delay(err)
            if delay is None:
                raise call.failed(err)
            yield Sleep(delay)
    finally:
        call.abandon()


def _read_stream(asm: StreamAssembler) -> Generator[Step, Any, Completion]:
    """Read a 200 stream's chunks, emitting each text delta (``asm.parts`` keeps them)."""
    decoder = SSEDecoder()
    while True:
        chunk = yield READ_CHUNK
        payloads = decoder.close() if chunk is None else decoder.feed(chunk)
        for payload in payloads:
            delta = asm.feed(payload)
            if delta:
                yield Emit(delta)
        if chunk is None:
            return Completion(*asm.finish())

