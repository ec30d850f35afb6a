"""The DeepSeek chat wire format, without I/O: requests out, results or errors in.

Both client faces (sync and async) build their requests and read their answers here, so
they cannot drift apart. Modelled on openai's ``BaseClient``: everything that is not a
socket read, a socket write or a sleep lives in this module (and in ``calls.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.ai.errors import (
    LLMConnectionError,
    LLMEmptyResponse,
    LLMError,
    LLMIncomplete,
    LLMProtocolError,
    LLMStatusError,
    LLMTimeout,
)
from shared.ai.retry import parse_retry_after
from shared.config import Settings

Messages = str | Sequence[Mapping[str, str]]

_USER_ID_BAD = re.compile(r"[^A-Za-z0-9_-]")
_WHITESPACE = b" \t\r\n\x0b\x0c"


@dataclass(frozen=True)
class ChatResult:
    """One finished chat completion."""

    text: str
    model: str
    finish_reason: str | None
    usage: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1
    latency_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe copy."""
        return {
            "text": self.text,
            "model": self.model,
            "finish_reason": self.finish_reason,
            "usage": dict(self.usage),
            "attempts": self.attempts,
            "latency_ms": self.latency_ms,
        }


@dataclass(frozen=True)
class Completion:
    """What a successful body says, before attempts and latency are known."""

    text: str
    model: str | None
    finish_reason: str | None
    usage: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """What one call's ``usage`` says was spent; None where the upstream did not say.

    DeepSeek reports its context cache as ``prompt_cache_hit_tokens`` and
    ``prompt_cache_miss_tokens`` (they add up to ``prompt_tokens``); OpenAI-style servers
    give only ``prompt_tokens_details.cached_tokens``, from which the miss is derived.
    """

    prompt: int | None
    completion: int | None
    cache_hit: int | None
    cache_miss: int | None

    @classmethod
    def of(cls, usage: Mapping[str, Any]) -> TokenCounts:
        """Read a ``usage`` object; anything that is not a count is left out."""
        get = usage.get
        prompt, completion = get("prompt_tokens"), get("completion_tokens")
        hit, miss = get("prompt_cache_hit_tokens"), get("prompt_cache_miss_tokens")
        # A count is a plain non-negative int (type() also rules out bool).
        prompt = prompt if type(prompt) is int and prompt >= 0 else None
        completion = completion if type(completion) is int and completion >= 0 else None
        hit = hit if type(hit) is int and hit >= 0 else None
        miss = miss if type(miss) is int and miss >= 0 else None
        if hit is None:
            details = get("prompt_tokens_details")
            cached = details.get("cached_tokens") if isinstance(details, dict) else None
            hit = cached if type(cached) is int and cached >= 0 else None
        if miss is None and hit is not None and prompt is not None and prompt >= hit:
            miss = prompt - hit
        return cls(prompt, completion, hit, miss)


@dataclass(frozen=True)
class PreparedRequest:
    """A request ready to send: the faces wrap it in ``httpx.Request``."""

    url: str
    headers: dict[str, str]
    raw_headers: tuple[tuple[bytes, bytes], ...]  # the same, encoded, with Host
    content: bytes
    model: str
    stream: bool


def normalize_messages(messages: Messages) -> list[dict[str, str]]:
    """A str is one user message; otherwise a copy of the given role/content mappings."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = [dict(m) for m in messages]
    if not out:
        raise ValueError("messages must not be empty")
    return out


def clean_user_id(user_id: str | None) -> str | None:
    """DeepSeek wants ``[a-zA-Z0-9_-]+`` and at most 512 bytes; map anything else onto that."""
    if not user_id:
        return None
    return _USER_ID_BAD.sub("_", user_id)[:512]


class ChatProtocol:
    """Builds chat requests from settings and reads responses into results or errors."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.deepseek_base_url.rstrip("/") + "/chat/completions"
        base_headers = {
            "Host": httpx.URL(self.url).netloc.decode("ascii"),
            "Authorization": f"Bearer {settings.deepseek_api_key or ''}",
            "Content-Type": "application/json",
            # Answers are small; uncompressed bytes need no decoder (and SSE no buffering).
            "Accept-Encoding": "identity",
            "User-Agent": "xianxia-world-engine/0.1",
        }
        self._headers = {**base_headers, "Accept": "application/json"}
        self._stream_headers = {**base_headers, "Accept": "text/event-stream"}
        # Encoded once: building headers is a visible share of the per-call CPU.
        self._raw = _encode(self._headers)
        self._stream_raw = _encode(self._stream_headers)

    # -- requests ---------------------------------------------------------------------

    def build(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        user_id: str | None = None,
        thinking: bool | None = None,
        stream: bool = False,
    ) -> PreparedRequest:
        """The URL, headers and JSON body of one chat call."""
        s = self.settings
        model = model or s.deepseek_model
        thinking = s.deepseek_thinking if thinking is None else thinking
        body: dict[str, Any] = {
            "model": model,
            "messages": normalize_messages(messages),
            # V4 thinks by default; narration wants the fast, non-thinking mode.
            "thinking": {"type": "enabled" if thinking else "disabled"},
            "max_tokens": s.llm_max_tokens if max_tokens is None else max_tokens,
            "temperature": s.llm_temperature if temperature is None else temperature,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        uid = clean_user_id(user_id)
        if uid:
            body["user_id"] = uid
        return PreparedRequest(
            url=self.url,
            headers=self._stream_headers if stream else self._headers,
            raw_headers=self._stream_raw if stream else self._raw,
            content=json.dumps(body, ensure_ascii=False).encode(),
            model=model,
            stream=stream,
        )

    # -- responses --------------------------------------------------------------------

    def parse_response(self, status: int, headers: Mapping[str, str], body: bytes) -> Completion:
        """A non-stream answer: the completion, or the error its status/body means."""
        if status != 200:
            raise status_error(status, headers, body)
        return parse_completion(body)


def _encode(headers: Mapping[str, str]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((k.encode(), v.encode()) for k, v in headers.items())


def parse_completion(body: bytes) -> Completion:
    """Parse a 200 body; keep-alive newlines before the JSON are skipped."""
    text = body.lstrip(_WHITESPACE)
    if not text:
        raise LLMEmptyResponse(
            "200 with an empty body" if not body else "200 with only keep-alive whitespace"
        )
    try:
        payload = json.loads(text.decode())  # str parses faster than bytes (no sniffing)
    except ValueError:  # UnicodeDecodeError included
        raise LLMProtocolError(f"malformed JSON body: {text[:120]!r}") from None
    if not isinstance(payload, dict):
        raise LLMProtocolError("JSON body is not an object")
    if "error" in payload:
        raise LLMProtocolError(f"error in a 200 body: {_error_message(payload, b'')}")
    choices = payload.get("choices")
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise LLMProtocolError("body has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    finish = choice.get("finish_reason")
    if finish == "insufficient_system_resource":
        raise LLMIncomplete(
            "upstream ran out of resources mid-answer", partial_text=content or ""
        )
    if not isinstance(content, str) or not content.strip():
        # JSON mode overwrites invalid output with spaces; blank content is worth a retry.
        raise LLMEmptyResponse("200 with blank content")
    return Completion(
        text=content,
        model=payload.get("model"),
        finish_reason=finish,
        usage=payload.get("usage") or {},
    )


def status_error(status: int, headers: Mapping[str, str], body: bytes) -> LLMStatusError:
    """The error for a non-2xx answer; the body may be JSON, plain text or nothing."""
    return LLMStatusError(
        status,
        _error_message(None, body) or f"HTTP {status}",
        retry_after=parse_retry_after(headers),
    )


def _error_message(payload: Any, body: bytes) -> str:
    if payload is None:
        stripped = body.strip()
        if not stripped:
            return ""
        try:
            payload = json.loads(stripped)
        except ValueError:
            return stripped[:300].decode("utf-8", errors="replace")
    if isinstance(payload, dict):
        err = payload.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        if isinstance(err, str):
            return err[:300]
    return json.dumps(payload, ensure_ascii=False)[:300]


def error_from_exception(exc: BaseException) -> LLMError:
    """Map a transport exception (httpx's, or an OSError that slipped through) to LLMError."""
    name = type(exc).__name__
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        return LLMTimeout(f"{name}: {exc}" if str(exc) else name)
    if isinstance(exc, (httpx.TransportError, OSError)):
        return LLMConnectionError(f"{name}: {exc}" if str(exc) else name)
    if isinstance(exc, httpx.HTTPError):
        return LLMProtocolError(f"{name}: {exc}")
    raise TypeError(f"not a transport error: {exc!r}")


TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx.HTTPError, OSError)
"""What the faces catch around I/O and hand to :func:`error_from_exception`."""
