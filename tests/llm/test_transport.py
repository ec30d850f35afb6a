"""The aiohttp-backed httpx transport, over real sockets to the fake DeepSeek subprocess."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest

from devtools.procs import FakeDeepSeek
from shared.ai.aiohttp_transport import AiohttpTransport, _map_error
from tests.conftest import free_port

pytestmark = pytest.mark.slow

BODY = {"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "踏雪无痕"}]}


@pytest.fixture
async def http(fake: FakeDeepSeek) -> AsyncIterator[httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=AiohttpTransport(max_connections=8),
                               base_url=fake.base_url)
    yield client
    await client.aclose()


async def test_json_round_trip(http: httpx.AsyncClient, fake: FakeDeepSeek) -> None:
    r = await http.post("/chat/completions", json=BODY, headers={"Authorization": "Bearer k"})
    assert r.status_code == 200 and r.reason_phrase == "OK"
    assert r.headers["content-type"].startswith("application/json")
    assert "踏雪无痕" in r.json()["choices"][0]["message"]["content"]
    last = fake.stats()["last_request"]
    assert last["headers"]["Authorization"] == "Bearer k"
    assert last["body"] == BODY
    models = await http.get("/models")
    assert models.json()["object"] == "list"


async def test_error_status_and_plain_body(http: httpx.AsyncClient, fake: FakeDeepSeek) -> None:
    fake.configure(faults=["422_text", {"kind": "429", "retry_after": 3}])
    r = await http.post("/chat/completions", json=BODY)
    assert r.status_code == 422 and r.text.startswith("Failed to deserialize")
    r = await http.post("/chat/completions", json=BODY)
    assert r.status_code == 429 and r.headers["retry-after"] == "3"


async def test_body_streams_as_it_arrives(http: httpx.AsyncClient, fake: FakeDeepSeek) -> None:
    fake.configure(chunk_delay=0.02)
    chunks = []
    async with http.stream("POST", "/chat/completions", json={**BODY, "stream": True}) as r:
        async for chunk in r.aiter_bytes():
            chunks.append(chunk)
    assert len(chunks) > 3  # many separate reads, not one buffered body
    assert b"".join(chunks).endswith(b"data: [DONE]\n\n")


async def test_read_timeout(http: httpx.AsyncClient, fake: FakeDeepSeek) -> None:
    fake.configure(faults=["hang"])
    with pytest.raises(httpx.ReadTimeout):
        await http.post("/chat/completions", json=BODY, timeout=httpx.Timeout(5, read=0.2))


async def test_read_timeout_while_streaming(http: httpx.AsyncClient, fake: FakeDeepSeek) -> None:
    fake.configure(faults=[{"kind": "keepalive_hang", "interval": 1.0}])
    with pytest.raises(httpx.ReadTimeout):
        async with http.stream("POST", "/chat/completions", json={**BODY, "stream": True},
                               timeout=httpx.Timeout(5, read=0.3)) as r:
            async for _ in r.aiter_bytes():
                pass


async def test_connect_error() -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{free_port()}/models")


async def test_reset_is_a_transport_error(http: httpx.AsyncClient, fake: FakeDeepSeek) -> None:
    fake.configure(faults=["reset"])
    with pytest.raises(httpx.TransportError):
        await http.post("/chat/completions", json=BODY)
    ok = await http.post("/chat/completions", json=BODY)  # the pool recovers
    assert ok.status_code == 200


async def test_closing_a_half_read_stream_drops_the_connection(
    http: httpx.AsyncClient, fake: FakeDeepSeek
) -> None:
    fake.configure(faults=[{"kind": "keepalive_hang", "interval": 0.05}])
    async with http.stream("POST", "/chat/completions", json={**BODY, "stream": True}) as r:
        async for chunk in r.aiter_bytes():
            assert b"keep-alive" in chunk
            break
    for _ in range(100):  # the fake notices the disconnect and drops the handler
        if fake.stats()["in_flight"] == 0:
            break
        await asyncio.sleep(0.05)
    assert fake.stats()["in_flight"] == 0


async def test_cancelling_a_request_closes_it(http: httpx.AsyncClient, fake: FakeDeepSeek) -> None:
    fake.configure(faults=["hang"])
    task = asyncio.create_task(http.post("/chat/completions", json=BODY))
    for _ in range(100):
        if fake.stats()["in_flight"] == 1:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if fake.stats()["in_flight"] == 0:
            break
        await asyncio.sleep(0.05)
    assert fake.stats()["in_flight"] == 0


async def test_keepalive_reuses_connections(http: httpx.AsyncClient, fake: FakeDeepSeek) -> None:
    for _ in range(5):
        assert (await http.post("/chat/completions", json=BODY)).status_code == 200
    transport = http._transport
    assert isinstance(transport, AiohttpTransport) and transport._session is not None
    assert len(transport._session.connector._conns) == 1  # type: ignore[union-attr]


async def test_session_lifecycle(fake: FakeDeepSeek) -> None:
    transport = AiohttpTransport()
    assert transport._session is None  # nothing opened before the first request
    async with httpx.AsyncClient(transport=transport, base_url=fake.base_url) as http:
        assert (await http.get("/models")).status_code == 200
    assert transport._session is not None and transport._session.closed
    # A session handed in belongs to the caller: the transport leaves it open.
    async with aiohttp.ClientSession() as session:
        async with httpx.AsyncClient(transport=AiohttpTransport(session=session),
                                     base_url=fake.base_url) as http:
            r = await http.post("/chat/completions", content=json.dumps(BODY).encode())
            assert r.status_code == 200
        assert not session.closed


async def test_streamed_request_body(http: httpx.AsyncClient, fake: FakeDeepSeek) -> None:
    async def parts() -> AsyncIterator[bytes]:
        raw = json.dumps(BODY).encode()
        yield raw[:10]
        yield raw[10:]

    r = await http.post("/chat/completions", content=parts())
    assert r.status_code == 200


def test_error_mapping() -> None:
    key = aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None)
    cases = [
        (aiohttp.ConnectionTimeoutError("c"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("s"), httpx.ReadTimeout),
        (TimeoutError(), httpx.ReadTimeout),
        (aiohttp.ClientConnectorError(key, OSError(111, "refused")), httpx.ConnectError),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("cut"), httpx.RemoteProtocolError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (ConnectionResetError(), httpx.ReadError),
        (aiohttp.InvalidURL("x"), httpx.RemoteProtocolError),
    ]
    for exc, expected in cases:
        assert type(_map_error(exc)) is expected, exc
    assert _map_error(ValueError("not ours")) is None
