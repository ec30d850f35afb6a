"""The fake speaks the real wire format: the official ``openai`` SDK (on httpx2, real
sockets to the fake subprocess) reads its JSON answers, its streams and its errors."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from devtools.procs import FakeDeepSeek

pytestmark = pytest.mark.slow

MODEL = "deepseek-v4-flash"
MESSAGES = [{"role": "system", "content": "你是说书人"}, {"role": "user", "content": "御剑飞行"}]


@pytest.fixture
def sdk(fake: FakeDeepSeek) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0,
                           timeout=10.0)
    yield client
    client.close()


def test_json_completion(sdk: openai.OpenAI, fake: FakeDeepSeek) -> None:
    r = sdk.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=400,
                                    extra_body={"thinking": {"type": "disabled"},
                                                "user_id": "p-1"})
    assert r.object == "chat.completion" and r.model == MODEL
    choice = r.choices[0]
    assert "御剑飞行" in (choice.message.content or "")
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert r.usage is not None and r.usage.total_tokens == (
        r.usage.prompt_tokens + r.usage.completion_tokens)
    body = fake.stats()["last_request"]["body"]
    assert body["thinking"] == {"type": "disabled"} and body["user_id"] == "p-1"


def test_thinking_mode_sends_reasoning(sdk: openai.OpenAI) -> None:
    r = sdk.chat.completions.create(model=MODEL, messages=MESSAGES,
                                    extra_body={"thinking": {"type": "enabled"}})
    assert r.choices[0].message.model_extra.get("reasoning_content")


@pytest.mark.parametrize("position", ["finish", "separate"])
def test_stream_with_usage(sdk: openai.OpenAI, fake: FakeDeepSeek, position: str) -> None:
    fake.configure(usage_position=position)
    whole = sdk.chat.completions.create(model=MODEL, messages=MESSAGES)
    chunks = list(sdk.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True},
        extra_body={"thinking": {"type": "disabled"}}))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    usages = [c.usage for c in chunks if c.usage]
    assert len(usages) == 1 and usages[0].total_tokens > 0
    if position == "separate":
        assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_keepalive_filler_is_invisible_to_the_sdk(sdk: openai.OpenAI, fake: FakeDeepSeek) -> None:
    fake.configure(faults=[{"kind": "keepalive", "lines": 4}, {"kind": "keepalive", "lines": 4}])
    r = sdk.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert "御剑飞行" in (r.choices[0].message.content or "")
    chunks = list(sdk.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        r.choices[0].message.content)


def test_errors_map_to_sdk_exceptions(sdk: openai.OpenAI, fake: FakeDeepSeek) -> None:
    with pytest.raises(openai.BadRequestError, match="Model Not Exist"):
        sdk.chat.completions.create(model="deepseek-chat", messages=MESSAGES)
    fake.configure(faults=["429", "503", "402", "422_text"])
    with pytest.raises(openai.RateLimitError):
        sdk.chat.completions.create(model=MODEL, messages=MESSAGES)
    with pytest.raises(openai.InternalServerError):
        sdk.chat.completions.create(model=MODEL, messages=MESSAGES)
    with pytest.raises(openai.APIStatusError) as info:
        sdk.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert info.value.status_code == 402
    with pytest.raises(openai.UnprocessableEntityError):
        sdk.chat.completions.create(model=MODEL, messages=MESSAGES)
    fake.configure(api_key="sk-some-other-key-0000")
    with pytest.raises(openai.AuthenticationError, match="Authentication Fails"):
        sdk.chat.completions.create(model=MODEL, messages=MESSAGES)


def test_models_endpoint(sdk: openai.OpenAI) -> None:
    ids = [m.id for m in sdk.models.list()]
    assert ids == ["deepseek-v4-flash", "deepseek-flash", "deepseek-v4-pro"]
