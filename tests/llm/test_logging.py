"""What the client logs: one INFO line per call, a WARNING per retry, an ERROR on give-up,
and never the API key, even when the upstream echoes it back in an error body."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from shared.ai import DeepSeekClient, LLMError, Narrator
from shared.config import Settings

SK_KEY = "sk-LEAKCHECK-abcdef0123456789"
PLAIN_KEY = "plainsecret-7f3a9c1e5b2d"  # a key that does not look like sk-...


def echoing_upstream(request: httpx.Request) -> httpx.Response:
    """A hostile upstream: every error body repeats the Authorization header and the key."""
    auth = request.headers["authorization"]
    key = auth.removeprefix("Bearer ")
    body = json.loads(request.content)
    kind = body["messages"][-1]["content"]
    if kind == "ok" and body["stream"]:
        return httpx.Response(200, content=b'data: {"choices":[{"delta":{"content":"x"},'
                              b'"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
    if kind == "ok":
        return httpx.Response(200, json={"model": "m", "choices": [
            {"message": {"content": "好"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2}})
    status = {"401": 401, "500": 500, "text": 422}[kind]
    if kind == "text":
        return httpx.Response(status, text=f"bad request from {key} ({auth})")
    return httpx.Response(status, json={"error": {"message": f"key {key} / {auth} rejected"}})


async def no_sleep(d: float) -> None:
    return None


@pytest.mark.parametrize("key", [SK_KEY, PLAIN_KEY])
async def test_logs_never_contain_the_key(caplog: pytest.LogCaptureFixture, key: str) -> None:
    caplog.set_level(logging.DEBUG)  # everything, from every logger (httpx's too)
    settings = Settings(deepseek_api_key=key, deepseek_base_url="http://up",
                        breaker_failures=100)
    client = DeepSeekClient(settings, transport=httpx.MockTransport(echoing_upstream),
                            async_transport=httpx.MockTransport(echoing_upstream),
                            sleep=lambda d: None, async_sleep=no_sleep)
    errors: list[str] = []
    for prompt in ("ok", "401", "500", "text"):
        for face in ("chat", "chat_async", "stream"):
            try:
                if face == "chat":
                    client.chat(prompt)
                elif face == "chat_async":
                    await client.chat_async(prompt)
                else:
                    list(client.stream(prompt))
            except LLMError as exc:
                errors.append(str(exc))
                errors.append(repr(exc))
    narrator = Narrator(_Prompts(), settings, client)
    assert (await narrator.narrate_async("500")).degraded
    await client.aclose()

    assert len(errors) == 18
    everything = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    everything += "\n".join(errors)
    assert key not in everything
    assert key[-12:] not in everything
    assert "[REDACTED]" in everything  # the echoes were there, and were scrubbed
    levels = [(r.levelname, r.getMessage().split(" id=")[0]) for r in caplog.records
              if r.name == "xianxia.llm"]
    assert levels.count(("INFO", "llm call")) == 13  # one per call, including failures
    assert levels.count(("WARNING", "llm retry")) == 3 * 2 + 2  # 500s retried twice
    assert levels.count(("ERROR", "llm gave up")) == 10


def test_log_line_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="xianxia")
    client = DeepSeekClient(Settings(deepseek_api_key=SK_KEY, deepseek_base_url="http://up"),
                            transport=httpx.MockTransport(echoing_upstream))
    client.chat("ok")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "xianxia.llm"]
    for part in ("id=llm-", "model=m", "outcome=ok", "status=200", "attempts=1",
                 "latency_ms=", "prompt_tokens=1", "completion_tokens=2"):
        assert part in line


class _Prompts:
    def messages(self, req: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": req}]

    def offline(self, req: str) -> str:
        return "离线"

    def raw_messages(self, prompt: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": prompt}]

    def offline_raw(self, prompt: str) -> str:
        return "离线"
