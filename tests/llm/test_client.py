"""DeepSeekClient against a scripted mock upstream (httpx.MockTransport: the transport seam).

One table of upstream behaviours runs against every face (chat, chat_async, chat_threaded,
stream, astream) to show they give the same result or error after the same attempts and
the same sleeps.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shared.ai import (
    CircuitOpenError,
    DeepSeekClient,
    LLMConnectionError,
    LLMEmptyResponse,
    LLMError,
    LLMIncomplete,
    LLMNotConfigured,
    LLMProtocolError,
    LLMStatusError,
    LLMTimeout,
)
from shared.ai.executor import get_executor, shutdown_executor
from shared.config import ConfigError, Settings

FACES = ("chat", "chat_async", "chat_threaded", "stream", "astream")
KEY = "sk-client-test-0123456789"

Behaviour = Callable[[httpx.Request, bool], httpx.Response]


# -- a scripted upstream ---------------------------------------------------------------


def completion_json(text: str, finish: str = "stop") -> bytes:
    return json.dumps({
        "id": "x", "object": "chat.completion", "model": "deepseek-v4-flash",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": finish}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }, ensure_ascii=False).encode()


def sse_events(deltas: list[str], finish: str | None = "stop", done: bool = True) -> bytes:
    out = [b'data: {"model":"deepseek-v4-flash","choices":[{"index":0,"delta":'
           b'{"role":"assistant","content":""}}]}\n\n']
    for d in deltas:
        chunk = {"choices": [{"index": 0, "delta": {"content": d}, "finish_reason": None}]}
        out.append(b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n")
    if finish:
        chunk = {"choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": finish}],
                 "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}
        out.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    if done:
        out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def ok(text: str = "青云直上九万里") -> Behaviour:
    def b(req: httpx.Request, stream: bool) -> httpx.Response:
        if stream:
            return httpx.Response(200, content=sse_events([text[:3], text[3:]]))
        return httpx.Response(200, content=completion_json(text))
    return b


def keepalive_ok(text: str = "青云直上九万里") -> Behaviour:
    def b(req: httpx.Request, stream: bool) -> httpx.Response:
        if stream:
            return httpx.Response(200, content=b": keep-alive\n\n: keep-alive\n\n"
                                  + sse_events([text]))
        return httpx.Response(200, content=b"\n\n\n\n" + completion_json(text))
    return b


def status(code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Behaviour:
    def b(req: httpx.Request, stream: bool) -> httpx.Response:
        return httpx.Response(code, content=body, headers=headers)
    return b


def envelope(code: int, message: str, headers: dict[str, str] | None = None) -> Behaviour:
    body = json.dumps({"error": {"message": message, "type": "t", "param": None, "code": "c"}})
    return status(code, body.encode(), headers)


def raises(cls: type[httpx.TransportError]) -> Behaviour:
    def b(req: httpx.Request, stream: bool) -> httpx.Response:
        raise cls("injected", request=req)
    return b


def body200(json_body: bytes, sse_body: bytes) -> Behaviour:
    def b(req: httpx.Request, stream: bool) -> httpx.Response:
        return httpx.Response(200, content=sse_body if stream else json_body)
    return b


BLANK = body200(b"\n\n\n\n", b"\n\n\n\n")
EMPTY = body200(b"", b"")
MALFORMED = body200(b'{"id": "x", "choices": [', b'data: {"id": "x", "choices": [\n\n')
INSUFFICIENT = body200(completion_json("", "insufficient_system_resource"),
                       sse_events([], "insufficient_system_resource"))
BLANK_CONTENT = body200(completion_json("   "), sse_events(["  ", " "]))
ERROR_200 = body200(b'{"error": {"message": "overloaded"}}',
                    b'data: {"error": {"message": "overloaded"}}\n\n')


class Upstream:
    """httpx.MockTransport handler: request n gets behaviour n (the last one repeats)."""

    def __init__(self, *script: Behaviour) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []
        self.threads: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.threads.append(threading.current_thread().name)
        stream = json.loads(request.content)["stream"]
        behaviour = self.script[min(len(self.requests), len(self.script)) - 1]
        return behaviour(request, stream)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_client(upstream: Any, clock: FakeClock | None = None, **overrides: Any) -> tuple[
        DeepSeekClient, list[float]]:
    """A client on ``upstream`` whose sleeps are recorded (and advance ``clock``)."""
    sleeps: list[float] = []

    def sleep(d: float) -> None:
        sleeps.append(d)
        if clock is not None:
            clock.now += d

    async def async_sleep(d: float) -> None:
        sleep(d)

    values: dict[str, Any] = {"deepseek_api_key": KEY, "deepseek_base_url": "http://upstream"}
    values.update(overrides)
    client = DeepSeekClient(
        Settings(**values),
        transport=httpx.MockTransport(upstream),
        async_transport=httpx.MockTransport(upstream),
        sleep=sleep, async_sleep=async_sleep, rng=lambda: 0.0, clock=clock,
    )
    return client, sleeps


async def run_face(face: str, client: DeepSeekClient, messages: Any = "你好") -> tuple[str, int]:
    """Call one face; returns (text, attempts)."""
    if face == "chat":
        r = client.chat(messages)
    elif face == "chat_async":
        r = await client.chat_async(messages)
    elif face == "chat_threaded":
        r = await client.chat_threaded(messages)
    elif face == "stream":
        s = client.stream(messages)
        text = "".join(s)
        assert s.result is not None and s.result.text == text
        return text, s.result.attempts
    else:
        s = client.astream(messages)
        text = "".join([d async for d in s])
        assert s.result is not None and s.result.text == text
        return text, s.result.attempts
    return r.text, r.attempts


@pytest.fixture(params=FACES)
def face(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- the shared vectors ----------------------------------------------------------------


@dataclass(frozen=True)
class Vector:
    name: str
    script: tuple[Behaviour, ...]
    expect: str | type[LLMError]
    attempts: int
    sleeps: tuple[float, ...] = ()


VECTORS = [
    Vector("ok", (ok(),), "青云直上九万里", 1),
    Vector("keep-alive filler before the answer", (keepalive_ok(),), "青云直上九万里", 1),
    Vector("500 then ok", (status(500, b"<html>err</html>"), ok()), "青云直上九万里", 2, (0.5,)),
    Vector("503 twice then ok", (envelope(503, "Server Overloaded"), envelope(503, "x"), ok()),
           "青云直上九万里", 3, (0.5, 1.0)),
    Vector("502 504 then ok", (status(502), status(504), ok()), "青云直上九万里", 3, (0.5, 1.0)),
    Vector("408 then ok", (status(408), ok()), "青云直上九万里", 2, (0.5,)),
    Vector("409 then ok", (status(409), ok()), "青云直上九万里", 2, (0.5,)),
    Vector("429 always", (envelope(429, "Rate Limit Reached"),), LLMStatusError, 3, (0.5, 1.0)),
    Vector("429 with Retry-After", (envelope(429, "r", {"Retry-After": "0.25"}), ok()),
           "青云直上九万里", 2, (0.25,)),
    Vector("429 with retry-after-ms", (envelope(429, "r", {"retry-after-ms": "100"}), ok()),
           "青云直上九万里", 2, (0.1,)),
    Vector("429 with an absurd Retry-After", (envelope(429, "r", {"Retry-After": "999"}), ok()),
           "青云直上九万里", 2, (0.5,)),
    Vector("400 model", (envelope(400, "Model Not Exist"),), LLMStatusError, 1),
    Vector("401", (envelope(401, "Authentication Fails"),), LLMStatusError, 1),
    Vector("402", (envelope(402, "Insufficient Balance"),), LLMStatusError, 1),
    Vector("422 plain text", (status(422, b"Failed to deserialize the JSON body"),),
           LLMStatusError, 1),
    Vector("connect error then ok", (raises(httpx.ConnectError), ok()), "青云直上九万里", 2,
           (0.5,)),
    Vector("connection reset always", (raises(httpx.RemoteProtocolError),),
           LLMConnectionError, 3, (0.5, 1.0)),
    Vector("read timeout always", (raises(httpx.ReadTimeout),), LLMTimeout, 3, (0.5, 1.0)),
    Vector("connect timeout then ok", (raises(httpx.ConnectTimeout), ok()), "青云直上九万里", 2,
           (0.5,)),
    Vector("blank 200 then ok", (BLANK, ok()), "青云直上九万里", 2, (0.5,)),
    Vector("blank 200 always", (BLANK,), LLMEmptyResponse, 3, (0.5, 1.0)),
    Vector("empty 200 then ok", (EMPTY, ok()), "青云直上九万里", 2, (0.5,)),
    Vector("malformed JSON", (MALFORMED, ok()), LLMProtocolError, 1),
    Vector("error inside a 200", (ERROR_200, ok()), LLMProtocolError, 1),
    Vector("insufficient resources then ok", (INSUFFICIENT, ok()), "青云直上九万里", 2, (0.5,)),
    Vector("insufficient resources always", (INSUFFICIENT,), LLMIncomplete, 3, (0.5, 1.0)),
    Vector("blank content then ok", (BLANK_CONTENT, ok()), "青云直上九万里", 2, (0.5,)),
]


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
async def test_vector(face: str, vector: Vector) -> None:
    upstream = Upstream(*vector.script)
    client, sleeps = make_client(upstream)
    try:
        if isinstance(vector.expect, str):
            text, attempts = await run_face(face, client)
            assert text == vector.expect
            assert attempts == vector.attempts
        else:
            with pytest.raises(vector.expect):
                await run_face(face, client)
        assert len(upstream.requests) == vector.attempts
        assert tuple(sleeps) == vector.sleeps
        snap = client.stats.snapshot()
        assert snap["attempts"] == vector.attempts
        assert snap["retries"] == vector.attempts - 1
        assert snap["in_flight"] == 0
        assert sum(snap["calls"].values()) == 1
    finally:
        await client.aclose()


async def test_request_on_the_wire(face: str) -> None:
    upstream = Upstream(ok())
    client, _ = make_client(upstream, deepseek_model="deepseek-flash", llm_max_tokens=77)
    await run_face(face, client, [{"role": "system", "content": "sys"},
                                  {"role": "user", "content": "u"}])
    req = upstream.requests[0]
    assert str(req.url) == "http://upstream/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(req.content)
    assert body["model"] == "deepseek-flash" and body["max_tokens"] == 77
    assert body["thinking"] == {"type": "disabled"}
    assert body["stream"] is face.endswith("stream")
    await client.aclose()


async def test_parameters_reach_the_body() -> None:
    upstream = Upstream(ok())
    client, _ = make_client(upstream)
    kw: dict[str, Any] = {"model": "deepseek-v4-pro", "max_tokens": 12, "temperature": 0.2,
                          "user_id": "p1", "thinking": True}
    client.chat("a", **kw)
    await client.chat_async("a", **kw)
    await client.chat_threaded("a", **kw)
    list(client.stream("a", **kw))
    [d async for d in client.astream("a", **kw)]
    bodies = [json.loads(r.content) for r in upstream.requests]
    for body in bodies:
        assert body["model"] == "deepseek-v4-pro" and body["max_tokens"] == 12
        assert body["temperature"] == 0.2 and body["user_id"] == "p1"
        assert body["thinking"] == {"type": "enabled"}
    await client.aclose()


async def test_result_fields(face: str) -> None:
    client, _ = make_client(Upstream(ok()))
    if face.endswith("stream"):
        s = client.stream("x") if face == "stream" else client.astream("x")
        if face == "stream":
            list(s)
        else:
            [d async for d in s]
        result = s.result
    elif face == "chat":
        result = client.chat("x")
    else:
        result = await getattr(client, face)("x")
    assert result is not None
    assert result.model == "deepseek-v4-flash" and result.finish_reason == "stop"
    assert result.usage["total_tokens"] == 12 and result.latency_ms >= 0
    await client.aclose()


async def test_not_configured(face: str) -> None:
    upstream = Upstream(ok())
    client, _ = make_client(upstream, deepseek_api_key=None)
    assert not client.configured
    with pytest.raises(LLMNotConfigured):
        await run_face(face, client)
    assert upstream.requests == []
    assert client.stats.snapshot()["calls"] == {"no_api_key": 1}


async def test_compressed_answers_are_decoded(face: str) -> None:
    import gzip

    def gzipped(req: httpx.Request, stream: bool) -> httpx.Response:
        raw = sse_events(["压缩", "之文"]) if stream else completion_json("压缩之文")
        return httpx.Response(200, content=gzip.compress(raw),
                              headers={"Content-Encoding": "gzip"})

    client, _ = make_client(Upstream(gzipped))
    assert (await run_face(face, client))[0] == "压缩之文"
    await client.aclose()


def test_unknown_transport_setting() -> None:
    with pytest.raises(ConfigError):
        DeepSeekClient(Settings(llm_transport="carrier-pigeon"))


# -- deadlines -------------------------------------------------------------------------


async def test_deadline_across_attempts(face: str) -> None:
    clock = FakeClock()

    def slow_500(req: httpx.Request, stream: bool) -> httpx.Response:
        clock.now += 30  # each attempt takes 30 s of the 90 s budget
        return httpx.Response(500)

    upstream = Upstream(slow_500)
    client, sleeps = make_client(upstream, clock, llm_max_retries=10, llm_total_timeout=90)
    with pytest.raises(LLMStatusError):
        await run_face(face, client)
    # 30 + 0.5 + 30 + 1.0 + 30 = 91.5 > 90: no fourth attempt despite 10 retries allowed.
    assert len(upstream.requests) == 3 and sleeps == [0.5, 1.0]


async def test_deadline_runs_out_during_a_sleep(face: str) -> None:
    clock = FakeClock()
    upstream = Upstream(status(503), ok())
    client, _ = make_client(upstream, clock, llm_total_timeout=10)
    client._sleep = lambda d: setattr(clock, "now", clock.now + 60)  # an oversleep

    async def oversleep(d: float) -> None:
        clock.now += 60

    client._async_sleep = oversleep
    with pytest.raises(LLMTimeout, match="deadline"):
        await run_face(face, client)
    assert len(upstream.requests) == 1


async def test_retry_after_beyond_the_deadline_gives_up_now(face: str) -> None:
    upstream = Upstream(envelope(429, "slow down", {"Retry-After": "30"}), ok())
    client, sleeps = make_client(upstream, FakeClock(), llm_total_timeout=10)
    with pytest.raises(LLMStatusError) as info:
        await run_face(face, client)
    assert info.value.status == 429 and sleeps == []


class Trickle(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that sends keep-alive filler forever (resets any read timer)."""

    def __init__(self, filler: bytes) -> None:
        self.filler = filler
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        while not self.closed:
            time.sleep(0.02)
            yield self.filler

    async def __aiter__(self) -> Any:
        while not self.closed:
            await asyncio.sleep(0.02)
            yield self.filler

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


async def test_deadline_enforced_while_keepalive_bytes_arrive(face: str) -> None:
    bodies: list[Trickle] = []

    def trickle(req: httpx.Request, stream: bool) -> httpx.Response:
        bodies.append(Trickle(b": keep-alive\n\n" if stream else b"\n"))
        return httpx.Response(200, stream=bodies[-1])

    client, _ = make_client(Upstream(trickle), llm_total_timeout=0.3, llm_read_timeout=60)
    with pytest.raises(LLMTimeout, match="deadline"):
        await run_face(face, client)
    assert bodies and all(b.closed for b in bodies)  # the upstream response was closed
    await client.aclose()


# -- streams: retried only before the first delta -------------------------------------


def cut_after(deltas: list[str]) -> Behaviour:
    return body200(b"", sse_events(deltas, finish=None, done=False))


@pytest.mark.parametrize("face_name", ["stream", "astream"])
async def test_stream_not_retried_after_a_delta(face_name: str) -> None:
    upstream = Upstream(cut_after(["剑出"]), ok())
    client, sleeps = make_client(upstream)
    got: list[str] = []
    with pytest.raises(LLMProtocolError, match="before \\[DONE\\]"):
        if face_name == "stream":
            got.extend(client.stream("x"))
        else:
            async for d in client.astream("x"):
                got.append(d)
    assert got == ["剑出"] and len(upstream.requests) == 1 and sleeps == []


@pytest.mark.parametrize("face_name", ["stream", "astream"])
async def test_stream_retried_when_cut_before_any_delta(face_name: str) -> None:
    upstream = Upstream(cut_after([]), ok())
    client, sleeps = make_client(upstream)
    text, attempts = await run_face(face_name, client)
    assert text == "青云直上九万里" and attempts == 2 and sleeps == [0.5]


@pytest.mark.parametrize("face_name", ["stream", "astream"])
async def test_stream_insufficient_after_text_is_not_retried(face_name: str) -> None:
    upstream = Upstream(body200(b"", sse_events(["半"], "insufficient_system_resource")), ok())
    client, _ = make_client(upstream)
    got: list[str] = []
    with pytest.raises(LLMIncomplete):
        if face_name == "stream":
            got.extend(client.stream("x"))
        else:
            async for d in client.astream("x"):
                got.append(d)
    assert got == ["半"] and len(upstream.requests) == 1


async def test_streams_stopped_early_close_the_response() -> None:
    bodies: list[Trickle] = []

    def endless(req: httpx.Request, stream: bool) -> httpx.Response:
        first = sse_events(["一"], finish=None, done=False)

        class Body(Trickle):
            def __iter__(self) -> Iterator[bytes]:
                yield first
                yield from super().__iter__()

            async def __aiter__(self) -> Any:
                yield first
                async for chunk in super().__aiter__():
                    yield chunk

        bodies.append(Body(b": keep-alive\n\n"))
        return httpx.Response(200, stream=bodies[-1])

    client, _ = make_client(Upstream(endless))
    with client.stream("x") as s:
        assert next(s) == "一"
    async with client.astream("x") as a:
        assert await a.__anext__() == "一"
    assert len(bodies) == 2 and all(b.closed for b in bodies)
    snap = client.stats.snapshot()
    assert snap["in_flight"] == 0 and snap["calls"] == {"cancelled": 2}
    await client.aclose()


# -- breaker ---------------------------------------------------------------------------


@pytest.mark.parametrize("face_name", FACES)
async def test_breaker_opens_fails_fast_and_recovers(face_name: str) -> None:
    clock = FakeClock()
    upstream = Upstream(status(500))
    client, _ = make_client(upstream, clock, breaker_failures=2, breaker_cooldown=10)
    for _ in range(2):
        with pytest.raises(LLMStatusError):
            await run_face(face_name, client)
    assert client.breaker.state == "open"
    sent = len(upstream.requests)
    with pytest.raises(CircuitOpenError):
        await run_face(face_name, client)
    assert len(upstream.requests) == sent  # failed fast, nothing sent
    clock.now += 10
    assert client.breaker.state == "half_open"
    upstream.script = [ok()]
    text, _ = await run_face(face_name, client)
    assert text and client.breaker.state == "closed"
    calls = client.stats.snapshot()["calls"]
    assert calls == {"status_500": 2, "circuit_open": 1, "ok": 1}
    await client.aclose()


async def test_client_errors_do_not_trip_the_breaker() -> None:
    client, _ = make_client(Upstream(envelope(400, "Model Not Exist")), breaker_failures=2)
    for _ in range(5):
        with pytest.raises(LLMStatusError):
            await client.chat_async("x")
    assert client.breaker.state == "closed"
    client402, _ = make_client(Upstream(envelope(402, "Insufficient Balance")),
                               breaker_failures=2)
    for _ in range(2):
        with pytest.raises(LLMStatusError):
            client402.chat("x")
    assert client402.breaker.state == "open"  # no balance: stop calling for a while
    await client.aclose()


# -- concurrency, cancellation, thread pool ----------------------------------------------


async def test_async_in_flight_cap() -> None:
    state = {"now": 0, "peak": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.02)
        state["now"] -= 1
        return httpx.Response(200, content=completion_json("ok"))

    client = DeepSeekClient(
        Settings(deepseek_api_key=KEY, llm_max_concurrency=3),
        async_transport=httpx.MockTransport(handler),
    )
    results = await asyncio.gather(*(client.chat_async(f"m{i}") for i in range(12)))
    assert [r.text for r in results] == ["ok"] * 12
    assert state["peak"] == 3
    assert client.stats.snapshot()["in_flight"] == 0
    await client.aclose()


def test_sync_in_flight_cap() -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return httpx.Response(200, content=completion_json("ok"))

    client = DeepSeekClient(Settings(deepseek_api_key=KEY, llm_max_concurrency=2),
                            transport=httpx.MockTransport(handler))
    threads = [threading.Thread(target=client.chat, args=("x",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert state["peak"] == 2 and client.stats.snapshot()["calls"] == {"ok": 8}
    client.close()


def test_sync_slot_wait_counts_against_the_deadline() -> None:
    client = DeepSeekClient(
        Settings(deepseek_api_key=KEY, llm_max_concurrency=1, llm_total_timeout=0.1,
                 llm_max_retries=0),
        transport=httpx.MockTransport(Upstream(ok())),
    )
    assert client._sync_slots.acquire()  # someone else holds the only slot
    with pytest.raises(LLMTimeout, match="slot"):
        client.chat("x")
    client._sync_slots.release()
    assert client.chat("x").text


async def test_cancellation_propagates_and_is_not_a_failure() -> None:
    started = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(30)
        return httpx.Response(200, content=completion_json("late"))

    client = DeepSeekClient(Settings(deepseek_api_key=KEY, breaker_failures=1),
                            async_transport=httpx.MockTransport(handler))
    task = asyncio.create_task(client.chat_async("x"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    snap = client.stats.snapshot()
    assert snap["in_flight"] == 0 and snap["calls"] == {"cancelled": 1}
    assert client.breaker.state == "closed"
    await client.aclose()


async def test_chat_threaded_uses_the_shared_pool() -> None:
    shutdown_executor()
    try:
        upstream = Upstream(ok())
        client, _ = make_client(upstream, llm_max_workers=3)
        results = await asyncio.gather(*(client.chat_threaded(f"q{i}") for i in range(6)))
        assert all(r.text == "青云直上九万里" for r in results)
        pool = get_executor(99)  # already created: the size stays the configured one
        assert pool._max_workers == 3
        assert all(name.startswith("llm") for name in upstream.threads)
        assert get_executor(1) is pool
    finally:
        shutdown_executor()


# -- lifecycle ---------------------------------------------------------------------------


def test_async_client_follows_the_running_loop() -> None:
    client, _ = make_client(Upstream(ok()))

    async def once() -> str:
        return (await client.chat_async("x")).text

    assert asyncio.run(once()) == asyncio.run(once())  # a second loop gets its own pool
    client.close()


async def test_close_then_use_again() -> None:
    client, _ = make_client(Upstream(ok()))
    client.chat("x")
    await client.chat_async("x")
    await client.aclose()
    assert client._sync is None and client._async is None
    assert client.chat("x").text and (await client.chat_async("x")).text
    await client.aclose()


def test_nothing_opened_at_construction() -> None:
    client = DeepSeekClient(Settings(deepseek_api_key=KEY))
    assert client._sync is None and client._async is None


async def test_default_async_transports() -> None:
    from httpx_aiohttp import AiohttpTransport as Packaged

    from shared.ai.aiohttp_transport import AiohttpTransport

    def pick(kind: str) -> Any:
        return DeepSeekClient(Settings(llm_transport=kind))._default_async_transport()

    assert isinstance(pick("aiohttp"), AiohttpTransport)
    assert isinstance(pick("httpx-aiohttp"), Packaged)
    assert isinstance(pick("httpx"), httpx.AsyncHTTPTransport)
