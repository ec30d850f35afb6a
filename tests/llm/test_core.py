"""The sans-I/O pieces of shared.ai: request building, parsing, SSE, retry policy, breaker."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from shared.ai.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from shared.ai.errors import (
    LLMConnectionError,
    LLMEmptyResponse,
    LLMIncomplete,
    LLMProtocolError,
    LLMStatusError,
    LLMTimeout,
)
from shared.ai.protocol import (
    ChatProtocol,
    ChatResult,
    clean_user_id,
    error_from_exception,
    normalize_messages,
    parse_completion,
    status_error,
)
from shared.ai.retry import RetryPolicy, parse_retry_after
from shared.ai.sse import SSEDecoder, StreamAssembler
from shared.config import Settings

SETTINGS = Settings(deepseek_api_key="sk-unit-test-000000", deepseek_base_url="http://up/")


def body(content: str | None = "天地玄黄", finish: str = "stop", **extra: object) -> bytes:
    payload = {"model": "deepseek-v4-flash",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                            "finish_reason": finish}],
               "usage": {"prompt_tokens": 3, "completion_tokens": 4}}
    payload.update(extra)
    return json.dumps(payload, ensure_ascii=False).encode()


# -- request building ---------------------------------------------------------------------


def test_build_request_defaults_from_settings() -> None:
    req = ChatProtocol(SETTINGS).build("你好")
    assert req.url == "http://up/chat/completions"
    assert req.headers["Authorization"] == "Bearer sk-unit-test-000000"
    assert req.headers["Accept"] == "application/json"
    sent = json.loads(req.content)
    assert sent == {
        "model": "deepseek-v4-flash",
        "messages": [{"role": "user", "content": "你好"}],
        "thinking": {"type": "disabled"},
        "max_tokens": SETTINGS.llm_max_tokens,
        "temperature": SETTINGS.llm_temperature,
        "stream": False,
    }
    assert "你好" in req.content.decode()  # not \\u-escaped


def test_build_stream_request_with_overrides() -> None:
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    req = ChatProtocol(SETTINGS).build(
        msgs, model="deepseek-v4-pro", max_tokens=9, temperature=0.3,
        user_id="player 42/é", thinking=True, stream=True,
    )
    sent = json.loads(req.content)
    assert sent["model"] == req.model == "deepseek-v4-pro"
    assert sent["messages"] == msgs
    assert sent["thinking"] == {"type": "enabled"}
    assert (sent["max_tokens"], sent["temperature"]) == (9, 0.3)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["user_id"] == "player_42__"
    assert req.headers["Accept"] == "text/event-stream"


def test_thinking_default_follows_settings() -> None:
    req = ChatProtocol(SETTINGS.with_(deepseek_thinking=True)).build("x")
    assert json.loads(req.content)["thinking"] == {"type": "enabled"}


def test_messages_and_user_id_helpers() -> None:
    assert normalize_messages("a") == [{"role": "user", "content": "a"}]
    with pytest.raises(ValueError):
        normalize_messages([])
    assert clean_user_id(None) is None and clean_user_id("") is None
    assert clean_user_id("ok-_1") == "ok-_1"
    assert len(clean_user_id("x" * 900) or "") == 512


def test_chat_result_to_dict() -> None:
    r = ChatResult("t", "m", "stop", {"a": 1}, 2, 3.5)
    assert r.to_dict() == {"text": "t", "model": "m", "finish_reason": "stop",
                           "usage": {"a": 1}, "attempts": 2, "latency_ms": 3.5}


# -- body parsing --------------------------------------------------------------------------


def test_parse_completion_skips_keepalive_newlines() -> None:
    c = parse_completion(b"\n\n\n\r\n " + body())
    assert (c.text, c.model, c.finish_reason) == ("天地玄黄", "deepseek-v4-flash", "stop")
    assert c.usage["completion_tokens"] == 4


@pytest.mark.parametrize(
    ("raw", "error", "retryable"),
    [
        (b"", LLMEmptyResponse, True),
        (b"\n\n\n\n", LLMEmptyResponse, True),
        (b"{not json", LLMProtocolError, False),
        (b'{"x": "\xff"}', LLMProtocolError, False),
        (b"[1, 2]", LLMProtocolError, False),
        (b'{"choices": []}', LLMProtocolError, False),
        (b'{"error": {"message": "boom"}}', LLMProtocolError, False),
        (body("   "), LLMEmptyResponse, True),
        (body(None), LLMEmptyResponse, True),
        (body("半句", finish="insufficient_system_resource"), LLMIncomplete, True),
    ],
)
def test_parse_completion_errors(raw: bytes, error: type, retryable: bool) -> None:
    with pytest.raises(error) as info:
        parse_completion(raw)
    assert info.value.retryable is retryable


def test_insufficient_keeps_partial_text() -> None:
    with pytest.raises(LLMIncomplete) as info:
        parse_completion(body("半句", finish="insufficient_system_resource"))
    assert info.value.partial_text == "半句"


@pytest.mark.parametrize(
    ("status", "raw", "message", "retryable", "trips"),
    [
        (400, b'{"error":{"message":"Model Not Exist","type":"x"}}', "Model Not Exist",
         False, False),
        (401, b'{"error":{"message":"Authentication Fails"}}', "Authentication Fails",
         False, False),
        (402, b'{"error":{"message":"Insufficient Balance"}}', "Insufficient Balance",
         False, True),
        (422, b"Failed to deserialize the JSON body", "Failed to deserialize", False, False),
        (408, b"", "HTTP 408", True, True),
        (409, b"", "HTTP 409", True, True),
        (429, b'{"error":{"message":"Rate Limit Reached"}}', "Rate Limit", True, True),
        (500, b"<html>oops</html>", "<html>oops", True, True),
        (503, b'{"error": "busy"}', "busy", True, True),
        (504, b'{"detail": 1}', '{"detail": 1}', True, True),
    ],
)
def test_status_errors(
    status: int, raw: bytes, message: str, retryable: bool, trips: bool
) -> None:
    err = status_error(status, httpx.Headers(), raw)
    assert isinstance(err, LLMStatusError)
    assert err.status == status and err.reason == f"status_{status}"
    assert message in str(err)
    assert err.retryable is retryable
    assert err.trips_breaker is trips


def test_status_error_reads_retry_after() -> None:
    err = status_error(429, httpx.Headers({"retry-after": "2"}), b"")
    assert err.retry_after == 2.0


def test_error_messages_are_redacted() -> None:
    err = status_error(401, httpx.Headers(), b'{"error":{"message":"bad key sk-abcdef123456"}}')
    assert "sk-abcdef123456" not in str(err)


def test_error_from_exception() -> None:
    assert isinstance(error_from_exception(httpx.ReadTimeout("r")), LLMTimeout)
    assert isinstance(error_from_exception(httpx.PoolTimeout("p")), LLMTimeout)
    assert isinstance(error_from_exception(TimeoutError()), LLMTimeout)
    assert isinstance(error_from_exception(httpx.ConnectError("c")), LLMConnectionError)
    assert isinstance(error_from_exception(httpx.RemoteProtocolError("x")), LLMConnectionError)
    assert isinstance(error_from_exception(ConnectionResetError()), LLMConnectionError)
    assert isinstance(error_from_exception(httpx.DecodingError("d")), LLMProtocolError)
    with pytest.raises(TypeError):
        error_from_exception(ValueError("not transport"))


# -- retry policy --------------------------------------------------------------------------


def test_backoff_formula_and_jitter_bounds() -> None:
    fixed = RetryPolicy(rng=lambda: 0.0)
    assert [fixed.backoff(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    low = RetryPolicy(rng=lambda: 0.999999)
    assert low.backoff(0) == pytest.approx(0.375, abs=1e-5)
    seeded = RetryPolicy(rng=random.Random(7).random)
    for n in range(8):
        d = seeded.backoff(n)
        cap = min(0.5 * 2**n, 8.0)
        assert 0.75 * cap <= d <= cap


def test_next_delay_decisions() -> None:
    p = RetryPolicy(max_retries=2, rng=lambda: 0.0)
    assert p.next_delay(retryable=False, retries_taken=0, remaining=60) is None
    assert p.next_delay(retryable=True, retries_taken=0, remaining=60) == 0.5
    assert p.next_delay(retryable=True, retries_taken=1, remaining=60) == 1.0
    assert p.next_delay(retryable=True, retries_taken=2, remaining=60) is None  # spent
    assert p.next_delay(retryable=True, retries_taken=0, remaining=60, retry_after=3) == 3
    # A wait that would eat the rest of the budget is not worth it.
    assert p.next_delay(retryable=True, retries_taken=0, remaining=2, retry_after=3) is None
    assert p.next_delay(retryable=True, retries_taken=0, remaining=0.4) is None


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "x", "retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "0"}) is None
    assert parse_retry_after({"retry-after": "-1"}) is None
    assert parse_retry_after({"retry-after": "121"}) is None  # over the cap: use backoff
    assert parse_retry_after({"retry-after": "nonsense"}) is None
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=20), usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now.timestamp()) == pytest.approx(20)
    assert parse_retry_after({"retry-after": date}) is None  # that date is long past by now


# -- SSE -----------------------------------------------------------------------------------

TRANSCRIPT = (
    b": keep-alive\n\n"
    b": keep-alive\n\n"
    b'data: {"id":"c","model":"deepseek-v4-flash","choices":[{"index":0,"delta":'
    b'{"role":"assistant","content":""},"finish_reason":null}],"usage":null}\n\n'
    b'data: {"id":"c","choices":[{"index":0,"delta":{"content":null,'
    b'"reasoning_content":"think"},"finish_reason":null}]}\r\n\r\n'
    + 'data: {"id":"c","choices":[{"index":0,"delta":{"content":"剑气纵横"},'
      '"finish_reason":null}]}\r\r'.encode()
    + b'data: {"id":"c","choices":[{"index":0,"delta":{"content":" three"},'
      b'"finish_reason":null}]}\n\n'
    b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"","role":null},'
    b'"finish_reason":"stop"}],"usage":null}\n\n'
    b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":31,"completion_tokens":4}}\n\n'
    b"\n\n"
    b"data: [DONE]\n\n"
)


def run_stream(chunks: list[bytes]) -> tuple[list[str], StreamAssembler]:
    dec, asm = SSEDecoder(), StreamAssembler()
    deltas = []
    for chunk in chunks:
        for payload in dec.feed(chunk):
            d = asm.feed(payload)
            if d:
                deltas.append(d)
    for payload in dec.close():
        d = asm.feed(payload)
        if d:
            deltas.append(d)
    return deltas, asm


def test_sse_whole_transcript() -> None:
    deltas, asm = run_stream([TRANSCRIPT])
    assert deltas == ["剑气纵横", " three"]
    text, model, finish, usage = asm.finish()
    assert text == "剑气纵横 three" and model == "deepseek-v4-flash" and finish == "stop"
    assert usage == {"prompt_tokens": 31, "completion_tokens": 4}


def test_sse_split_at_every_byte() -> None:
    whole, _ = run_stream([TRANSCRIPT])
    for cut in range(1, len(TRANSCRIPT)):
        deltas, asm = run_stream([TRANSCRIPT[:cut], TRANSCRIPT[cut:]])
        assert "".join(deltas) == "".join(whole), cut
        assert asm.finish()[3]["prompt_tokens"] == 31


def test_sse_one_byte_at_a_time() -> None:
    deltas, asm = run_stream([TRANSCRIPT[i:i + 1] for i in range(len(TRANSCRIPT))])
    assert "".join(deltas) == "剑气纵横 three"
    assert asm.done


def test_sse_random_chunkings() -> None:
    rnd = random.Random(1)
    for _ in range(200):
        cuts = sorted(rnd.sample(range(1, len(TRANSCRIPT)), rnd.randint(1, 12)))
        parts = [TRANSCRIPT[a:b] for a, b in zip([0, *cuts], [*cuts, len(TRANSCRIPT)], strict=True)]
        deltas, _ = run_stream(parts)
        assert "".join(deltas) == "剑气纵横 three"


def test_sse_usage_on_finish_chunk() -> None:
    raw = (b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n'
           b'data: {"choices":[{"delta":{},"finish_reason":"length"}],'
           b'"usage":{"total_tokens":5}}\n\ndata: [DONE]\n\n')
    _, asm = run_stream([raw])
    assert asm.finish() == ("a", None, "length", {"total_tokens": 5})


def test_sse_multiline_data_and_other_fields() -> None:
    dec = SSEDecoder()
    events = dec.feed(b"event: x\nid: 1\nretry: 5\ndata: a\ndata:b\n\n")
    assert events == ["a\nb"]
    assert dec.feed(b"data: tail") == []
    assert dec.close() == ["tail"]  # a last event without its blank line still counts


def test_sse_truncated_and_empty_streams() -> None:
    _, asm = run_stream([b'data: {"choices":[{"delta":{"content":"half"}}]}\n\n'])
    with pytest.raises(LLMProtocolError) as info:
        asm.finish()
    assert info.value.retryable
    _, asm = run_stream([b"\n\n: keep-alive\n\n"])
    with pytest.raises(LLMEmptyResponse):
        asm.finish()
    _, asm = run_stream([b"data: [DONE]\n\n"])
    with pytest.raises(LLMEmptyResponse):
        asm.finish()


def test_sse_blank_content_is_held_back() -> None:
    deltas, asm = run_stream([b'data: {"choices":[{"delta":{"content":"  "}}]}\n\n'
                              b'data: {"choices":[{"delta":{"content":" "},'
                              b'"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'])
    assert deltas == []
    with pytest.raises(LLMEmptyResponse):
        asm.finish()
    deltas, _ = run_stream([b'data: {"choices":[{"delta":{"content":"\\n"}}]}\n\n'
                            b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'])
    assert deltas == ["\nx"]  # held whitespace goes out with the first real text


def test_sse_bad_chunks() -> None:
    with pytest.raises(LLMProtocolError):
        run_stream([b"data: {broken\n\n"])
    with pytest.raises(LLMProtocolError):
        run_stream([b"data: [1]\n\n"])
    with pytest.raises(LLMProtocolError, match="quota"):
        run_stream([b'data: {"error": {"message": "quota"}}\n\n'])
    with pytest.raises(LLMProtocolError, match="plain"):
        run_stream([b'data: {"error": "plain"}\n\n'])


def test_sse_insufficient_resource() -> None:
    _, asm = run_stream([b'data: {"choices":[{"delta":{"content":"part"},'
                         b'"finish_reason":"insufficient_system_resource"}]}\n\ndata: [DONE]\n\n'])
    with pytest.raises(LLMIncomplete) as info:
        asm.finish()
    assert info.value.partial_text == "part"


def test_sse_ignores_chunks_after_done() -> None:
    deltas, _ = run_stream([b'data: [DONE]\n\ndata: {"choices":[{"delta":{"content":"x"}}]}\n\n'])
    assert deltas == []


# -- circuit breaker -----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_and_recovers() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=3, cooldown=10, clock=clock)
    assert b.state == CLOSED and b.allow()
    b.record_failure()
    b.record_failure()
    assert b.state == CLOSED and b.consecutive_failures == 2
    b.record_failure()
    assert b.state == OPEN and not b.allow()
    assert b.retry_in() == 10
    clock.now += 9.9
    assert b.state == OPEN and not b.allow()
    clock.now += 0.1
    assert b.state == HALF_OPEN
    assert b.allow()  # the one trial call
    assert not b.allow()  # everyone else still fails fast
    b.record_success()
    assert b.state == CLOSED and b.allow() and b.consecutive_failures == 0
    assert b.opened_count == 1 and b.retry_in() == 0


def test_breaker_failed_trial_reopens() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, cooldown=5, clock=clock)
    b.record_failure()
    assert b.state == OPEN
    clock.now += 5
    assert b.allow()
    b.record_failure()
    assert b.state == OPEN and not b.allow()
    assert b.opened_count == 2
    clock.now += 5
    assert b.allow()


def test_breaker_release_frees_the_trial_slot() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, cooldown=5, clock=clock)
    b.record_failure()
    clock.now += 6
    assert b.allow() and not b.allow()
    b.release()  # the trial was cancelled: someone else may try
    assert b.state == HALF_OPEN and b.allow()


def test_breaker_success_resets_the_count() -> None:
    b = CircuitBreaker(failure_threshold=2, cooldown=5, clock=Clock())
    b.record_failure()
    b.record_success()
    b.record_failure()
    assert b.state == CLOSED
