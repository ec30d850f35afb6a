"""The narrator: DeepSeek prose, offline fallback, partial streams, cancellation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.ai import AsyncNarrator, DeepSeekClient, Narration, Narrator
from shared.config import Settings

KEY = "sk-narrator-test-0123456789"


class FakePrompts:
    """A minimal prompt book: the narrator only needs these four methods."""

    def messages(self, req: dict[str, str]) -> list[dict[str, str]]:
        return [{"role": "system", "content": "你是说书人"},
                {"role": "user", "content": req["text"]}]

    def offline(self, req: dict[str, str]) -> str:
        return f"（离线）{req['text']}"

    def raw_messages(self, prompt: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": prompt}]

    def offline_raw(self, prompt: str) -> str:
        return f"（离线原话）{prompt}"


REQ = {"text": "闭关修炼"}


def completion(text: str) -> bytes:
    return json.dumps({"model": "deepseek-v4-flash",
                       "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
                       "usage": {"total_tokens": 9}}, ensure_ascii=False).encode()


def sse(deltas: list[str], end: bool = True) -> bytes:
    out = b"".join(
        b"data: " + json.dumps({"choices": [{"delta": {"content": d}}]},
                               ensure_ascii=False).encode() + b"\n\n" for d in deltas)
    if end:
        out += (b'data: {"model":"deepseek-v4-flash","choices":[{"delta":{},'
                b'"finish_reason":"stop"}],"usage":{"total_tokens":9}}\n\ndata: [DONE]\n\n')
    return out


def echo_upstream(request: httpx.Request) -> httpx.Response:
    """Answers with the last user message, JSON or SSE as asked."""
    body = json.loads(request.content)
    text = "天雷滚滚：" + body["messages"][-1]["content"]
    if body["stream"]:
        return httpx.Response(200, content=sse([text[:3], text[3:]]))
    return httpx.Response(200, content=completion(text))


def failing_upstream(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"error": {"message": "Server Overloaded"}})


async def no_sleep(d: float) -> None:
    return None


def narrator(handler: Any, backend: str = "httpx", **overrides: Any) -> Narrator:
    values: dict[str, Any] = {"deepseek_api_key": KEY, "deepseek_base_url": "http://up"}
    values.update(overrides)
    settings = Settings(**values)
    client = DeepSeekClient(
        settings,
        transport=httpx.MockTransport(handler),
        async_transport=httpx.MockTransport(handler),
        sleep=lambda d: None, async_sleep=no_sleep,
    )
    return Narrator(FakePrompts(), settings, client, backend)


async def all_faces(n: Narrator) -> dict[str, Narration]:
    """Every one-shot and streaming face on REQ (raw prompt for complete)."""
    out = {
        "narrate": n.narrate(REQ, user_id="p1"),
        "narrate_async": await n.narrate_async(REQ, user_id="p1"),
        "complete": n.complete("问道"),
        "complete_async": await n.complete_async("问道"),
    }
    s = n.stream(REQ)
    text = "".join(s)
    assert s.result.text == text
    out["stream"] = s.result
    a = n.astream(REQ)
    text = "".join([d async for d in a])
    assert a.result.text == text
    out["astream"] = a.result
    return out


# -- online ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["httpx", "threadpool"])
async def test_online_narration(backend: str) -> None:
    results = await all_faces(narrator(echo_upstream, backend))
    for name, r in results.items():
        expected = "天雷滚滚：问道" if name.startswith("complete") else "天雷滚滚：闭关修炼"
        assert r == Narration(expected, False, "deepseek-v4-flash", {"total_tokens": 9}, None), name


async def test_user_id_goes_upstream() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return echo_upstream(request)

    n = narrator(handler)
    n.narrate(REQ, user_id="player-1")
    await n.narrate_async(REQ, user_id="player-2")
    list(n.stream(REQ, user_id="player-3"))
    assert [b["user_id"] for b in seen] == ["player-1", "player-2", "player-3"]
    assert seen[0]["messages"][0] == {"role": "system", "content": "你是说书人"}


# -- degraded ---------------------------------------------------------------------------


def offline_expectations(reason: str) -> dict[str, Narration]:
    offline = Narration("（离线）闭关修炼", True, None, None, reason)
    raw = Narration("（离线原话）问道", True, None, None, reason)
    return {"narrate": offline, "narrate_async": offline, "complete": raw,
            "complete_async": raw, "stream": offline, "astream": offline}


async def test_no_client_means_offline() -> None:
    n = Narrator(FakePrompts(), Settings(deepseek_api_key=None), None)
    assert not n.online
    assert await all_faces(n) == offline_expectations("no_api_key")


async def test_client_without_key_means_offline() -> None:
    settings = Settings(deepseek_api_key=None)
    n = Narrator(FakePrompts(), settings, DeepSeekClient(settings), "threadpool")
    assert await all_faces(n) == offline_expectations("no_api_key")


@pytest.mark.parametrize("backend", ["httpx", "threadpool"])
async def test_upstream_failure_degrades(backend: str) -> None:
    n = narrator(failing_upstream, backend, breaker_failures=100)
    assert await all_faces(n) == offline_expectations("status_503")


async def test_open_breaker_degrades_without_calling() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return failing_upstream(request)

    n = narrator(handler, breaker_failures=1, llm_max_retries=0)
    assert n.narrate(REQ).reason == "status_503"
    assert len(calls) == 1
    assert await all_faces(n) == offline_expectations("circuit_open")
    assert len(calls) == 1


@pytest.mark.parametrize("face", ["stream", "astream"])
async def test_stream_failing_midway_keeps_its_text(face: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=sse(["剑光", "一闪"], end=False))

    n = narrator(handler)
    if face == "stream":
        s = n.stream(REQ)
        got = list(s)
    else:
        s = n.astream(REQ)  # type: ignore[assignment]
        got = [d async for d in s]  # type: ignore[attr-defined]
    assert got == ["剑光", "一闪"]  # nothing invented after the cut
    assert s.result == Narration("剑光一闪", True, None, None, "protocol")


@pytest.mark.parametrize("face", ["stream", "astream"])
async def test_stream_failing_before_text_tells_offline(face: str) -> None:
    n = narrator(failing_upstream, breaker_failures=100)
    s = n.stream(REQ) if face == "stream" else n.astream(REQ)
    got = list(s) if face == "stream" else [d async for d in s]  # type: ignore[union-attr]
    assert got == ["（离线）闭关修炼"]
    assert s.result.degraded and s.result.reason == "status_503"


def test_result_before_the_end_is_an_error() -> None:
    n = narrator(echo_upstream)
    s = n.stream(REQ)
    with pytest.raises(RuntimeError):
        _ = s.result
    next(s)
    with pytest.raises(RuntimeError):
        _ = s.result
    assert not s.done
    s.close()
    with n.stream(REQ) as whole:
        assert "".join(whole) == whole.result.text and whole.done
    a = n.astream(REQ)
    with pytest.raises(RuntimeError):
        _ = a.result


def test_narration_to_dict() -> None:
    n = Narration("文", False, "m", {"total_tokens": 3}, None)
    assert n.to_dict() == {"text": "文", "degraded": False, "model": "m",
                           "usage": {"total_tokens": 3}, "reason": None}
    assert json.loads(json.dumps(Narration("x", True, reason="timeout").to_dict()))["usage"] is None


def test_unknown_backend() -> None:
    with pytest.raises(ValueError):
        Narrator(FakePrompts(), Settings(), None, "carrier-pigeon")


def test_a_world_is_wrapped_in_a_prompt_book() -> None:
    from shared.game.narration import PromptBook

    world = object()  # anything without the prompt-book methods is taken for a World
    n = Narrator(world, Settings(deepseek_api_key=None), None, "sync")
    assert isinstance(n.prompts, PromptBook) and n.prompts.world is world
    prompts = FakePrompts()
    assert Narrator(prompts, Settings(), None).prompts is prompts


# -- cancellation ------------------------------------------------------------------------


class Endless(httpx.AsyncByteStream, httpx.SyncByteStream):
    """One delta, then keep-alive comments until closed."""

    def __init__(self) -> None:
        self.closed = False

    async def __aiter__(self) -> Any:
        yield sse(["第一句"], end=False)
        while not self.closed:
            await asyncio.sleep(0.01)
            yield b": keep-alive\n\n"

    def __iter__(self) -> Iterator[bytes]:
        yield sse(["第一句"], end=False)
        while not self.closed:
            yield b": keep-alive\n\n"

    async def aclose(self) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True


async def test_cancelled_astream_propagates_and_closes_upstream() -> None:
    bodies: list[Endless] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(Endless())
        return httpx.Response(200, stream=bodies[-1])

    n = narrator(handler)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in n.astream(REQ):
            first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert bodies and bodies[0].closed
    assert n.client is not None
    assert n.client.stats.snapshot()["in_flight"] == 0


async def test_cancelled_narrate_async_propagates() -> None:
    started = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(30)
        return httpx.Response(200, content=completion("迟"))

    settings = Settings(deepseek_api_key=KEY)
    client = DeepSeekClient(settings, async_transport=httpx.MockTransport(slow))
    n = Narrator(FakePrompts(), settings, client)
    task = asyncio.create_task(n.narrate_async(REQ))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.stats.snapshot()["calls"] == {"cancelled": 1}


def test_stream_closed_early_closes_upstream() -> None:
    bodies: list[Endless] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(Endless())
        return httpx.Response(200, stream=bodies[-1])

    s = narrator(handler).stream(REQ)
    assert next(s) == "第一句"
    s.close()
    assert bodies[0].closed


# -- the two faces -------------------------------------------------------------------------


async def both_faces(sync: Narrator, aio: AsyncNarrator, **kw: Any) -> dict[str, Narration]:
    """The same three method names on the blocking and the async face."""
    out = {"narrate": sync.narrate(REQ, "p1", **kw),
           "a.narrate": await aio.narrate(REQ, "p1", **kw),
           "complete": sync.complete("问道", "p1", **kw),
           "a.complete": await aio.complete("问道", "p1", **kw)}
    s = sync.stream(REQ, "p1", **kw)
    assert "".join(s) == s.result.text
    out["stream"] = s.result
    a = aio.stream(REQ, "p1", **kw)
    assert "".join([d async for d in a]) == a.result.text
    out["a.stream"] = a.result
    return out


def twin(n: Narrator) -> AsyncNarrator:
    return AsyncNarrator(n.prompts, n.settings, n.client, n.backend)


@pytest.mark.parametrize("backend", ["httpx", "threadpool"])
async def test_async_narrator_matches_the_blocking_one(backend: str) -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return echo_upstream(request)

    n = narrator(handler, backend)
    got = await both_faces(n, twin(n))
    story = Narration("天雷滚滚：闭关修炼", False, "deepseek-v4-flash", {"total_tokens": 9}, None)
    raw = Narration("天雷滚滚：问道", False, "deepseek-v4-flash", {"total_tokens": 9}, None)
    assert got == {"narrate": story, "a.narrate": story, "complete": raw, "a.complete": raw,
                   "stream": story, "a.stream": story}
    assert [b["user_id"] for b in seen] == ["p1"] * 6
    assert isinstance(n.aio, AsyncNarrator) and n.aio.backend == backend


async def test_offline_reason_makes_no_call_on_any_face() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return echo_upstream(request)

    n = narrator(handler)
    got = await both_faces(n, twin(n), offline_reason="budget_spent")
    story = Narration("（离线）闭关修炼", True, None, None, "budget_spent")
    raw = Narration("（离线原话）问道", True, None, None, "budget_spent")
    assert got == {"narrate": story, "a.narrate": story, "complete": raw, "a.complete": raw,
                   "stream": story, "a.stream": story}
    # The old async names take it too.
    assert (await n.narrate_async(REQ, offline_reason="budget_spent")) == story
    assert (await n.complete_async("问道", offline_reason="budget_spent")) == raw
    a = n.astream(REQ, offline_reason="budget_spent")
    assert [d async for d in a] == [story.text] and a.result == story
    assert calls == []


async def test_offline_reason_wins_over_a_missing_key() -> None:
    n = Narrator(FakePrompts(), Settings(deepseek_api_key=None), None)
    got = await both_faces(n, twin(n), offline_reason="budget_spent")
    assert {r.reason for r in got.values()} == {"budget_spent"}


async def test_async_stream_failing_midway_keeps_its_text() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=sse(["剑光", "一闪"], end=False))

    a = twin(narrator(handler)).stream(REQ)
    assert [d async for d in a] == ["剑光", "一闪"]
    assert a.result == Narration("剑光一闪", True, None, None, "protocol")


def test_async_narrator_rejects_an_unknown_backend() -> None:
    with pytest.raises(ValueError):
        AsyncNarrator(FakePrompts(), Settings(), None, "carrier-pigeon")
