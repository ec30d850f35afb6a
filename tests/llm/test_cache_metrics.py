"""DeepSeek's context cache and the tokens spent: parsed from ``usage``, on the call's log
line, and in ``/metrics`` of both apps (present at 0 before any call)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared import metrics
from shared.ai import DeepSeekClient, LLMStatusError
from shared.ai.protocol import TokenCounts
from shared.config import REPO_ROOT, Settings

KEY = "sk-cache-test-0123456789"
USAGE = {"prompt_tokens": 120, "completion_tokens": 26, "total_tokens": 146,
         "prompt_tokens_details": {"cached_tokens": 64},
         "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 56}
SERIES = {
    ("xianxia_llm_prompt_cache_hit_tokens_total", ()),
    ("xianxia_llm_prompt_cache_miss_tokens_total", ()),
    ("xianxia_llm_tokens_total", (("kind", "prompt"),)),
    ("xianxia_llm_tokens_total", (("kind", "completion"),)),
}


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new, empty, single-process registry for this test."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(metrics, "_built", None)
    monkeypatch.setattr(metrics, "_seen", {})


# -- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(("usage", "expected"), [
    (USAGE, TokenCounts(120, 26, 64, 56)),
    # OpenAI style: only cached_tokens; the miss is the rest of the prompt.
    ({"prompt_tokens": 31, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 0}},
     TokenCounts(31, 4, 0, 31)),
    ({"prompt_tokens": 31, "completion_tokens": 4}, TokenCounts(31, 4, None, None)),
    ({}, TokenCounts(None, None, None, None)),
    # Not counts: strings, booleans, negatives, a details object that is not one.
    ({"prompt_tokens": "31", "completion_tokens": True, "prompt_cache_hit_tokens": -1,
      "prompt_tokens_details": [1]}, TokenCounts(None, None, None, None)),
    # A hit larger than the prompt leaves the miss unknown rather than negative.
    ({"prompt_tokens": 3, "prompt_tokens_details": {"cached_tokens": 9}},
     TokenCounts(3, None, 9, None)),
])
def test_token_counts(usage: dict[str, Any], expected: TokenCounts) -> None:
    assert TokenCounts.of(usage) == expected


# -- /metrics in both apps ----------------------------------------------------------------


async def test_series_are_present_at_zero_from_the_start(fresh: None, api: Any) -> None:
    response = await api.get("/metrics")
    assert response.status == 200
    got = samples(response.body)
    assert {key: got.get(key) for key in SERIES} == dict.fromkeys(SERIES, 0.0), api.app_name


# -- one call ------------------------------------------------------------------------------


def answer(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    if body["stream"]:
        chunks = [
            {"choices": [{"delta": {"content": "云海"}}]},
            {"model": "deepseek-v4-flash",
             "choices": [{"delta": {}, "finish_reason": "stop"}], "usage": USAGE},
        ]
        sse = b"".join(b"data: " + json.dumps(c, ensure_ascii=False).encode() + b"\n\n"
                       for c in chunks)
        return httpx.Response(200, content=sse + b"data: [DONE]\n\n")
    return httpx.Response(200, json={
        "model": "deepseek-v4-flash", "usage": USAGE,
        "choices": [{"message": {"content": "云海"}, "finish_reason": "stop"}]})


@pytest.mark.parametrize("face", ["chat", "chat_async", "stream", "astream"])
async def test_a_call_counts_its_tokens_and_logs_the_cache(
    fresh: None, face: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = DeepSeekClient(
        Settings(deepseek_api_key=KEY, deepseek_base_url="http://up"),
        transport=httpx.MockTransport(answer), async_transport=httpx.MockTransport(answer))
    with caplog.at_level(logging.INFO, logger="xianxia.llm"):
        if face == "chat":
            client.chat("问")
        elif face == "chat_async":
            await client.chat_async("问")
        elif face == "stream":
            assert "".join(client.stream("问")) == "云海"
        else:
            assert "".join([d async for d in client.astream("问")]) == "云海"
    got = samples(metrics.render()[0])
    assert got[("xianxia_llm_prompt_cache_hit_tokens_total", ())] == 64
    assert got[("xianxia_llm_prompt_cache_miss_tokens_total", ())] == 56
    assert got[("xianxia_llm_tokens_total", (("kind", "prompt"),))] == 120
    assert got[("xianxia_llm_tokens_total", (("kind", "completion"),))] == 26
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("llm call")]
    assert "prompt_tokens=120 completion_tokens=26 cache_hit_tokens=64 cache_miss_tokens=56" \
        in line
    await client.aclose()


def test_a_failed_call_counts_no_tokens(fresh: None, caplog: pytest.LogCaptureFixture) -> None:
    client = DeepSeekClient(
        Settings(deepseek_api_key=KEY, deepseek_base_url="http://up", llm_max_retries=0),
        transport=httpx.MockTransport(lambda r: httpx.Response(400, json={"error": "bad"})))
    with caplog.at_level(logging.INFO, logger="xianxia.llm"), pytest.raises(LLMStatusError):
        client.chat("问")
    got = samples(metrics.render()[0])
    assert {key: got.get(key) for key in SERIES} == dict.fromkeys(SERIES, 0.0)
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("llm call")]
    assert line.endswith("cache_hit_tokens=- cache_miss_tokens=-")


def test_series_are_present_at_zero_in_multiprocess_mode(tmp_path: Path) -> None:
    """gunicorn's merged /metrics: the first worker to render writes the series at 0."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    code = "import sys; from shared import metrics; sys.stdout.write(metrics.render()[0].decode())"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    got = samples(out.stdout.encode())
    assert {key: got.get(key) for key in SERIES} == dict.fromkeys(SERIES, 0.0)
