"""The client against the fake DeepSeek subprocess, over real sockets, one fault at a time.

Each fault kind the fake can inject runs through every face and every transport; the
expected outcome (text or error, number of attempts) is the same for all of them unless the
difference is the point (a stream cannot be retried once text went out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from devtools.procs import FakeDeepSeek
from shared.ai import (
    DeepSeekClient,
    LLMEmptyResponse,
    LLMError,
    LLMIncomplete,
    LLMProtocolError,
    LLMStatusError,
    LLMTimeout,
)

pytestmark = pytest.mark.slow

PROMPT = "我在洞府中打坐"
# face -> (method, transport of the async client)
FACES = {
    "chat": ("chat", "aiohttp"),
    "chat_threaded": ("chat_threaded", "aiohttp"),
    "chat_async/aiohttp": ("chat_async", "aiohttp"),
    "chat_async/httpx": ("chat_async", "httpx"),
    "stream": ("stream", "aiohttp"),
    "astream/aiohttp": ("astream", "aiohttp"),
    "astream/httpx": ("astream", "httpx"),
}


@dataclass(frozen=True)
class Case:
    name: str
    faults: list[Any]
    expect: str | type[LLMError]  # "ok" or the error
    attempts: int
    sleeps: tuple[float, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    stream_expect: tuple[type[LLMError], int] | None = None  # when streams differ


CASES = [
    Case("no fault", [], "ok", 1),
    Case("429", ["429"], "ok", 2, (0.5,)),
    Case("429 Retry-After", [{"kind": "429", "retry_after": 0.2}], "ok", 2, (0.2,)),
    Case("429 retry-after-ms", [{"kind": "429", "retry_after_ms": 150}], "ok", 2, (0.15,)),
    Case("429 alias", ["429_retry_after"], "ok", 2, (1.0,)),
    Case("500", ["500"], "ok", 2, (0.5,)),
    Case("503 twice", ["503", "503"], "ok", 3, (0.5, 1.0)),
    Case("503 thrice", ["503", "503", "503"], LLMStatusError, 3, (0.5, 1.0)),
    Case("402", ["402"], LLMStatusError, 1),
    Case("401", ["401"], LLMStatusError, 1),
    Case("400", ["400"], LLMStatusError, 1),
    Case("422 plain text", ["422_text"], LLMStatusError, 1),
    Case("hang", ["hang"], "ok", 2, (0.5,), {"llm_read_timeout": 0.3}),
    Case("connection reset", ["reset"], "ok", 2, (0.5,)),
    Case("malformed JSON", ["malformed"], LLMProtocolError, 1),
    Case("keep-alive filler", [{"kind": "keepalive", "lines": 3}], "ok", 1),
    Case("only newlines", ["blank_body"], "ok", 2, (0.5,)),
    Case("only newlines, always", ["blank_body"] * 3, LLMEmptyResponse, 3, (0.5, 1.0)),
    Case("empty body", ["empty_body"], "ok", 2, (0.5,)),
    Case("cut before the end", ["cut_stream"], LLMProtocolError, 1),
    Case("insufficient resources", ["insufficient"], "ok", 2, (0.5,),
         stream_expect=(LLMIncomplete, 1)),
    Case("blank content", ["blank_content"], "ok", 2, (0.5,)),
    Case("keep-alive forever", ["keepalive_hang"], LLMTimeout, 1, (),
         {"llm_total_timeout": 0.5}),
    Case("unknown model", [], LLMStatusError, 1, (), {"deepseek_model": "deepseek-chat"}),
]


def make_client(fake: FakeDeepSeek, transport: str, **overrides: Any) -> tuple[
        DeepSeekClient, list[float]]:
    sleeps: list[float] = []

    async def async_sleep(d: float) -> None:
        sleeps.append(d)

    client = DeepSeekClient(
        fake.settings(llm_transport=transport, **overrides),
        sleep=sleeps.append, async_sleep=async_sleep, rng=lambda: 0.0,
    )
    return client, sleeps


async def call(client: DeepSeekClient, method: str, prompt: str = PROMPT) -> tuple[str, int]:
    if method == "chat":
        r = client.chat(prompt)
    elif method == "stream":
        s = client.stream(prompt)
        text = "".join(s)
        assert s.result is not None and s.result.text == text
        return text, s.result.attempts
    elif method == "astream":
        a = client.astream(prompt)
        text = "".join([d async for d in a])
        assert a.result is not None and a.result.text == text
        return text, a.result.attempts
    else:
        r = await getattr(client, method)(prompt)
    return r.text, r.attempts


@pytest.mark.parametrize("face", list(FACES))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_fault(fake: FakeDeepSeek, case: Case, face: str) -> None:
    method, transport = FACES[face]
    fake.configure(faults=case.faults)
    client, sleeps = make_client(fake, transport, **case.settings)
    expect, attempts = case.expect, case.attempts
    if case.stream_expect and "stream" in method:
        expect, attempts = case.stream_expect
    try:
        if expect == "ok":
            text, got_attempts = await call(client, method)
            assert PROMPT in text  # the fake echoes the prompt
            assert got_attempts == attempts
            assert tuple(sleeps) == case.sleeps
        else:
            with pytest.raises(expect):  # type: ignore[call-overload]
                await call(client, method)
    finally:
        await client.aclose()
    assert fake.stats()["chat"] == attempts


async def test_wrong_api_key_is_not_retried(fake: FakeDeepSeek) -> None:
    fake.configure(api_key="sk-the-right-one-0000")
    client, sleeps = make_client(fake, "aiohttp")
    with pytest.raises(LLMStatusError) as info:
        await client.chat_async(PROMPT)
    assert info.value.status == 401 and "Authentication Fails" in str(info.value)
    with pytest.raises(LLMStatusError):
        client.chat(PROMPT)
    assert fake.stats()["chat"] == 2 and sleeps == []
    assert client.breaker.state == "closed"
    await client.aclose()


async def test_usage_in_either_position(fake: FakeDeepSeek) -> None:
    client, _ = make_client(fake, "aiohttp")
    usages = []
    for position in ("finish", "separate"):
        fake.configure(usage_position=position)
        a = client.astream(PROMPT)
        [d async for d in a]
        s = client.stream(PROMPT)
        list(s)
        assert a.result is not None and s.result is not None
        assert a.result.usage == s.result.usage
        usages.append(a.result.usage)
    assert usages[0] == usages[1] and usages[0]["total_tokens"] > 0
    await client.aclose()


async def test_what_the_fake_received(fake: FakeDeepSeek) -> None:
    client, _ = make_client(fake, "aiohttp")
    await client.chat_async(PROMPT, user_id="player:7", max_tokens=50)
    last = fake.stats()["last_request"]
    assert last["headers"]["Authorization"] == f"Bearer {fake.api_key}"
    assert last["body"]["thinking"] == {"type": "disabled"}
    assert last["body"]["user_id"] == "player_7"
    assert last["body"]["max_tokens"] == 50
    await client.aclose()


async def test_max_tokens_cuts_the_reply(fake: FakeDeepSeek) -> None:
    client, _ = make_client(fake, "aiohttp")
    r = await client.chat_async(PROMPT, max_tokens=5)
    assert len(r.text) == 5 and r.finish_reason == "length"
    await client.aclose()


def test_fake_control_endpoints(fake: FakeDeepSeek) -> None:
    cfg = fake.configure(latency=0.0, faults=["500", "none"], fault=None)
    assert [f["kind"] for f in cfg["faults"]] == ["500", "none"]
    with pytest.raises(httpx.HTTPStatusError):
        fake.configure(nonsense=1)
    with pytest.raises(httpx.HTTPStatusError):
        fake.configure(faults="500")
    with pytest.raises(httpx.HTTPStatusError):
        fake.configure(fault={"no": "kind"})
    with httpx.Client(base_url=fake.base_url) as http:
        models = http.get("/v1/models").json()
        balance = http.get("/user/balance").json()
    assert "deepseek-v4-flash" in [m["id"] for m in models["data"]]
    assert balance["is_available"] is True
    fake.reset()
    assert fake.stats()["requests"] == 0
    assert fake.configure()["faults"] == []


def test_fake_rejects_bad_requests(fake: FakeDeepSeek) -> None:
    msg = [{"role": "user", "content": "x"}]
    with httpx.Client(base_url=fake.base_url) as http:
        r = http.post("/chat/completions", content=b"not json")
        assert r.status_code == 422
        assert not r.headers["content-type"].startswith("application/json")
        r = http.post("/chat/completions", json={"model": "deepseek-v4-flash"})
        assert r.status_code == 400 and "messages" in r.json()["error"]["message"]
        r = http.post("/chat/completions", json={"model": "deepseek-v4-flash",
                                                 "stream_options": {}, "messages": msg})
        assert r.status_code == 400
        fake.configure(max_concurrency=0)
        r = http.post("/chat/completions", json={"model": "deepseek-v4-flash", "messages": msg})
        assert r.status_code == 429
        fake.configure(max_concurrency=None, api_key="sk-x-000000")
        r = http.post("/chat/completions", headers={"Authorization": "Token x"},
                      json={"model": "deepseek-v4-flash", "messages": msg})
        assert r.status_code == 401 and "format" in r.json()["error"]["message"]
    assert fake.stats()["statuses"] == {"422": 1, "400": 2, "429": 1, "401": 1}


async def test_create_app_in_process() -> None:
    """The fake also runs inside a test's own loop (``create_app``), e.g. for app tests."""
    from aiohttp.test_utils import TestServer

    from devtools.fake_deepseek import create_app

    app = create_app(models=["only-this"], api_key="sk-in-process-0000",
                            usage_position="separate")
    async with TestServer(app, host="127.0.0.1") as server:
        base = str(server.make_url("")).rstrip("/")
        client = DeepSeekClient(fake_settings(base, "sk-in-process-0000", "only-this"))
        s = client.astream("在山门前")
        text = "".join([d async for d in s])
        assert "在山门前" in text and s.result is not None and s.result.usage
        await client.aclose()
    assert app["fake_state"].stats()["chat"] == 1


def fake_settings(base_url: str, key: str, model: str) -> Any:
    from shared.config import Settings

    return Settings(deepseek_base_url=base_url, deepseek_api_key=key, deepseek_model=model)


def test_fake_exits_on_its_own(tmp_path: Any) -> None:
    """``--max-seconds`` bounds a fake that nobody stops (e.g. after a crashed session)."""
    from devtools.procs import start_fake

    server = start_fake(tmp_path, max_seconds=1)
    try:
        server.process.wait(timeout=15)
        assert server.process.returncode == 0
    finally:
        server.stop()


# -- the context cache ----------------------------------------------------------------------


def test_the_prefix_cache_hits_on_leading_messages_sent_before() -> None:
    from devtools.fake_deepseek import PrefixCache, _prompt_tokens

    cache = PrefixCache()
    system = {"role": "system", "content": "你是仙侠世界的说书人。" * 30}  # 300 chars
    persona = {"role": "system", "content": "李老汉，青云村的村长。" * 20}
    first = [system, persona, {"role": "user", "content": "老丈好"}]
    assert cache.hit_tokens(first, "p1") == 0  # nothing sent before
    again = cache.hit_tokens(first, "p1")
    assert again == _prompt_tokens(first) - _prompt_tokens(first) % 64 and again > 0
    # Another last message: the two fixed messages hit, counted in whole 64-token units.
    other = [system, persona, {"role": "user", "content": "再会"}]
    shared = _prompt_tokens([system, persona])
    assert cache.hit_tokens(other, "p1") == shared - shared % 64
    # Another user is isolated; a changed first message misses everything after it too.
    assert cache.hit_tokens(first, "p2") == 0
    changed = [{"role": "system", "content": "你是说书人。"}, persona, first[2]]
    assert cache.hit_tokens(changed, "p1") == 0


async def test_usage_reports_the_cache_as_deepseek_does(fake: FakeDeepSeek) -> None:
    body = {"model": "deepseek-v4-flash", "user_id": "p9",
            "messages": [{"role": "system", "content": "说书人" * 100},
                         {"role": "user", "content": "开篇"}]}
    async with httpx.AsyncClient(base_url=fake.base_url) as client:
        usages = [(await client.post("/chat/completions", json=body)).json()["usage"]
                  for _ in range(2)]
    assert usages[0]["prompt_cache_hit_tokens"] == 0
    hit = usages[1]["prompt_cache_hit_tokens"]
    assert hit > 0 and hit % 64 == 0
    assert usages[1]["prompt_tokens_details"]["cached_tokens"] == hit
    assert hit + usages[1]["prompt_cache_miss_tokens"] == usages[1]["prompt_tokens"]
    assert fake.stats()["cache_hit_tokens"] == hit
    fake.reset()
    assert fake.stats()["cache_hit_tokens"] == 0
