"""The total deadline holds when the headers come late and the body then stalls.

Real sockets to the fake DeepSeek (fault ``stall_body``): the headers arrive after LATENCY,
then not a byte. httpcore fixes a blocking response's read timeout once for the whole body,
so before the deadline watchdog a blocking read waited a full read timeout past
``LLM_TOTAL_TIMEOUT`` (7.5 s against 4 s measured; here the read timeout is 30 s). Every face
must now end within the deadline + 0.5 s: the blocking ones, the thread-pool one, the async
ones, and the Celery task (a worker subprocess whose narrator degrades to offline text).
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from shared.ai import DeepSeekClient, LLMTimeout, Narrator
from shared.ai.watchdog import Watchdog
from tests.support.fake_server import FakeDeepSeek

pytestmark = pytest.mark.slow

TOTAL = 2.0  # LLM_TOTAL_TIMEOUT
LATENCY = 1.0  # the headers come this late
SLACK = 0.5
READ_TIMEOUT = 30.0  # far beyond the deadline: only the deadline may end the call
PROMPT = "我在洞府中打坐"


def stall(fake: FakeDeepSeek) -> None:
    """Every chat request from now on: late headers, then a body that never comes."""
    fake.configure(fault={"kind": "stall_body", "latency": LATENCY, "seconds": 30})


def client_on(fake: FakeDeepSeek, **overrides: Any) -> DeepSeekClient:
    return DeepSeekClient(fake.settings(
        llm_total_timeout=TOTAL, llm_read_timeout=READ_TIMEOUT, **overrides))


async def call(face: str, client: DeepSeekClient) -> None:
    if face == "chat":
        client.chat(PROMPT)
    elif face == "stream":
        list(client.stream(PROMPT))
    elif face == "chat_threaded":
        await client.chat_threaded(PROMPT)
    elif face == "chat_async":
        await client.chat_async(PROMPT)
    else:
        [d async for d in client.astream(PROMPT)]


@pytest.mark.parametrize(
    ("face", "transport"),
    [("chat", "aiohttp"), ("stream", "aiohttp"), ("chat_threaded", "aiohttp"),
     ("chat_async", "aiohttp"), ("chat_async", "httpx"), ("astream", "httpx")],
)
async def test_a_stalled_body_ends_at_the_deadline(
    fake: FakeDeepSeek, face: str, transport: str
) -> None:
    stall(fake)
    client = client_on(fake, llm_transport=transport)
    started = time.monotonic()
    with pytest.raises(LLMTimeout) as caught:
        await call(face, client)
    elapsed = time.monotonic() - started
    assert LATENCY <= elapsed <= TOTAL + SLACK, f"{face} took {elapsed:.2f} s"
    assert "total deadline" in str(caught.value)
    # One attempt: the deadline left no time for a retry.
    assert fake.stats()["faults"] == {"stall_body": 1}
    # The stalled connection was dropped, not pooled: the next call on the client works.
    fake.configure(fault=None)
    assert PROMPT in client.chat(PROMPT).text
    await client.aclose()


def test_the_narrator_degrades_in_time(fake: FakeDeepSeek) -> None:
    stall(fake)
    client = client_on(fake)
    narrator = Narrator(_Prompts(), client.settings, client, "sync")
    started = time.monotonic()
    told = narrator.narrate({"text": PROMPT})
    assert time.monotonic() - started <= TOTAL + SLACK
    assert told.degraded and told.reason == "timeout" and told.text == "（离线）" + PROMPT
    client.close()


class _Prompts:
    def messages(self, req: dict[str, str]) -> list[dict[str, str]]:
        return [{"role": "user", "content": req["text"]}]

    def offline(self, req: dict[str, str]) -> str:
        return "（离线）" + req["text"]

    def raw_messages(self, prompt: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": prompt}]

    def offline_raw(self, prompt: str) -> str:
        return "（离线）" + prompt


@pytest.mark.services
def test_the_celery_task_ends_at_the_deadline(
    redis_url: str, fake: FakeDeepSeek, sqlite_url: str, tmp_path: Path
) -> None:
    from tests.tasks.test_worker import _rig

    with _rig(redis_url, fake, sqlite_url, tmp_path, llm_total_timeout=TOTAL) as rig:
        worker = rig.workers.start()  # LLM_READ_TIMEOUT stays at its default of 60 s
        stall(fake)
        task_id = rig.queue.submit_complete(PROMPT)
        started = time.monotonic()
        final = rig.queue.await_result(task_id, 30.0)
        elapsed = time.monotonic() - started
        log = worker.log()
    assert final["state"] == "SUCCESS", log
    assert final["result"]["degraded"] is True and final["result"]["reason"] == "timeout"
    assert elapsed <= TOTAL + SLACK, f"the task took {elapsed:.2f} s"
    (latency_ms,) = re.findall(r"llm call .*outcome=timeout .*latency_ms=(\d+)", log)
    assert LATENCY * 1000 <= int(latency_ms) <= (TOTAL + SLACK) * 1000


# -- the watchdog itself ------------------------------------------------------------------


class _Stream:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> Any:
        return self.sock if name == "socket" else None


class _Response:
    def __init__(self, sock: socket.socket | None) -> None:
        self.extensions = {} if sock is None else {"network_stream": _Stream(sock)}


def test_a_fired_watch_wakes_a_blocked_read() -> None:
    dog = Watchdog()
    a, b = socket.socketpair()
    with a, b:
        watch = dog.arm(time.monotonic() + 0.2, _Response(a))
        assert watch is not None
        a.settimeout(5.0)
        started = time.monotonic()
        assert a.recv(10) == b""  # shut down: end of file, long before the 5 s timeout
        assert time.monotonic() - started < 1.0
        assert watch.fired


def test_a_disarmed_watch_never_touches_its_socket() -> None:
    dog = Watchdog()
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    with a, b, c, d:
        early = dog.arm(time.monotonic() + 0.1, _Response(a))
        dog.disarm(early)
        later = dog.arm(time.monotonic() + 0.2, _Response(c))  # the thread keeps serving
        time.sleep(0.4)
        assert later is not None and later.fired
        assert early is not None and not early.fired
        a.sendall(b"ok")
        assert b.recv(10) == b"ok"  # a is open in both directions
        a.settimeout(0.3)
        with pytest.raises(TimeoutError):
            a.recv(10)  # nothing shut a down: a read still waits


def test_a_response_without_a_socket_is_not_watched() -> None:
    assert Watchdog().arm(time.monotonic() + 1, _Response(None)) is None
    Watchdog().disarm(None)


def test_disarmed_watches_do_not_pile_up() -> None:
    from shared.ai import watchdog

    dog = Watchdog()
    a, b = socket.socketpair()
    with a, b:
        far = time.monotonic() + 3600
        for _ in range(watchdog.COMPACT_AT * 3):
            dog.disarm(dog.arm(far, _Response(a)))
        kept = dog.arm(far, _Response(a))
        assert len(dog._heap) <= watchdog.COMPACT_AT + 1
        assert dog._live == 1 and any(entry[2] is kept for entry in dog._heap)
        dog.disarm(kept)
        assert dog._live == 0
