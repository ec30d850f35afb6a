"""The seed plan's async checks, against the fake DeepSeek subprocess over real sockets.

- the async faces give the same results as the sync face;
- 50 concurrent ``chat_async`` calls at 1 s upstream latency all succeed within 5 s;
- an API failure degrades cleanly (offline text, ``degraded=True``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from devtools.procs import FakeDeepSeek
from shared.ai import DeepSeekClient, Narration, Narrator

pytestmark = pytest.mark.slow


class Prompts:
    def messages(self, req: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": "你是说书人"}, {"role": "user", "content": req}]

    def offline(self, req: str) -> str:
        return f"（离线）{req}"

    def raw_messages(self, prompt: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": prompt}]

    def offline_raw(self, prompt: str) -> str:
        return f"（离线）{prompt}"


async def no_sleep(d: float) -> None:
    return None


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_async_results_equal_sync_results(fake: FakeDeepSeek, transport: str) -> None:
    client = DeepSeekClient(fake.settings(llm_transport=transport))
    try:
        for prompt in ("炼丹三日", [{"role": "system", "content": "s"},
                                    {"role": "user", "content": "渡劫"}]):
            sync = client.chat(prompt)
            results = [await client.chat_async(prompt), await client.chat_threaded(prompt)]
            for r in results:
                assert (r.text, r.model, r.finish_reason, r.usage, r.attempts) == (
                    sync.text, sync.model, sync.finish_reason, sync.usage, sync.attempts)
            s = client.stream(prompt)
            a = client.astream(prompt)
            assert "".join(s) == "".join([d async for d in a]) == sync.text
            assert s.result is not None and a.result is not None
            assert s.result.usage == a.result.usage
    finally:
        await client.aclose()


async def test_fifty_concurrent_calls_at_one_second_latency(fake: FakeDeepSeek) -> None:
    fake.configure(latency=1.0)
    client = DeepSeekClient(fake.settings())
    try:
        started = time.perf_counter()
        results = await asyncio.gather(*(client.chat_async(f"第{i}位弟子求见") for i in range(50)))
        wall = time.perf_counter() - started
    finally:
        await client.aclose()
    assert [f"第{i}位弟子求见" in r.text for i, r in enumerate(results)] == [True] * 50
    assert all(r.attempts == 1 for r in results)
    assert wall < 5.0, f"50 calls at 1 s latency took {wall:.2f}s"
    stats = fake.stats()
    assert stats["chat"] == 50 and stats["max_in_flight"] == 50  # really concurrent


@pytest.mark.parametrize("backend", ["httpx", "threadpool"])
async def test_api_failure_degrades_cleanly(fake: FakeDeepSeek, backend: str) -> None:
    fake.configure(fault="503")
    settings = fake.settings()
    client = DeepSeekClient(settings, sleep=lambda d: None, async_sleep=no_sleep)
    narrator = Narrator(Prompts(), settings, client, backend)
    try:
        told = await narrator.narrate_async("问剑")
        answer = await narrator.complete_async("问剑")
        stream = narrator.astream("问剑")
        deltas = [d async for d in stream]
    finally:
        await client.aclose()
    assert told == Narration("（离线）问剑", True, None, None, "status_503")
    assert answer.degraded and answer.text == "（离线）问剑"
    assert deltas == ["（离线）问剑"] and stream.result.degraded
    assert fake.stats()["chat"] == 9  # three calls, three attempts each


async def test_api_down_degrades_cleanly(fake: FakeDeepSeek) -> None:
    from tests.conftest import free_port

    settings = fake.settings(deepseek_base_url=f"http://127.0.0.1:{free_port()}")
    client = DeepSeekClient(settings, sleep=lambda d: None, async_sleep=no_sleep)
    narrator = Narrator(Prompts(), settings, client)
    told: Any = await narrator.narrate_async("问剑")
    await client.aclose()
    assert told.degraded and told.reason == "connection" and told.text == "（离线）问剑"
