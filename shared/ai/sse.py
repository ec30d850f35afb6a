"""Server-sent events, incrementally: bytes in, chat deltas out (pure, no I/O).

:class:`SSEDecoder` turns arbitrary byte chunks into the ``data`` payloads of complete
events. Chunks may split anywhere: inside a line, inside a UTF-8 character, between the CR
and LF of a CRLF. Comment lines (``: keep-alive``) and extra blank lines are skipped.

:class:`StreamAssembler` reads those payloads as chat-completion chunks: it returns each
content delta, remembers ``finish_reason``, ``model`` and ``usage`` (which DeepSeek puts on the
finish chunk and OpenAI in a separate final chunk), and stops at ``[DONE]``. A stream that
ends without ``[DONE]`` is truncated.
"""

from __future__ import annotations

import json
from typing import Any

from shared.ai.errors import LLMEmptyResponse, LLMIncomplete, LLMProtocolError

DONE = "[DONE]"


class SSEDecoder:
    """Incremental SSE parser yielding each event's ``data`` (lines joined by newlines)."""

    __slots__ = ("_buf", "_data")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        """Consume ``chunk``; return the data of every event it completed."""
        buf = self._buf + chunk if self._buf else chunk
        if not buf:
            return []
        hold = b""
        if buf.endswith(b"\r"):
            # Might be the first half of a CRLF: decide when the next byte comes.
            buf, hold = buf[:-1], b"\r"
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._buf = lines.pop() + hold
        events: list[str] = []
        for line in lines:
            self._line(line, events)
        return events

    def close(self) -> list[str]:
        """End of input: flush a last event even if its closing blank line never came."""
        events: list[str] = []
        rest, self._buf = self._buf, b""
        if rest.endswith(b"\r"):
            rest = rest[:-1]
        if rest:
            self._line(rest, events)
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[str]) -> None:
        if not line:
            if self._data:
                events.append("\n".join(self._data))
                self._data = []
            return
        if line[:1] == b":":
            return  # a comment, e.g. DeepSeek's ": keep-alive" while queued
        name, sep, value = line.partition(b":")
        if name != b"data":
            return  # event/id/retry fields: DeepSeek sends none and we need none
        if sep and value[:1] == b" ":
            value = value[1:]
        self._data.append(value.decode("utf-8", errors="replace"))


class StreamAssembler:
    """Reads chat-completion chunks; collects the text, finish reason, model and usage."""

    __slots__ = ("_held", "chunks", "done", "finish_reason", "model", "parts", "usage")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.usage: dict[str, Any] = {}
        self.done = False
        self.chunks = 0
        # Leading whitespace-only content is held back: a blank answer must stay
        # retryable, and a stream is only retried while nothing was passed on.
        self._held = ""

    @property
    def text(self) -> str:
        """All content passed on so far."""
        return "".join(self.parts)

    def feed(self, payload: str) -> str:
        """Consume one event's data; return its content delta ("" when it has none)."""
        if self.done:
            return ""
        if payload.strip() == DONE:
            self.done = True
            return ""
        self.chunks += 1
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise LLMProtocolError(f"malformed stream chunk: {payload[:120]!r}") from None
        if not isinstance(chunk, dict):
            raise LLMProtocolError(f"stream chunk is not an object: {payload[:120]!r}")
        if "error" in chunk:
            raise LLMProtocolError(f"error inside the stream: {_error_text(chunk['error'])}")
        model = chunk.get("model")
        if model:
            self.model = model
        usage = chunk.get("usage")
        if usage:
            self.usage = usage
        choices = chunk.get("choices") or ()
        if not choices:
            return ""
        choice = choices[0]
        finish = choice.get("finish_reason")
        if finish:
            self.finish_reason = finish
        delta = choice.get("delta") or {}
        content = delta.get("content")  # reasoning_content (thinking mode) is not narration
        if not content or not isinstance(content, str):
            return ""
        if not self.parts:
            if not content.strip():
                self._held += content
                return ""
            content, self._held = self._held + content, ""
        self.parts.append(content)
        return content

    def finish(self) -> tuple[str, str | None, str | None, dict[str, Any]]:
        """At end of stream: ``(text, model, finish_reason, usage)`` or the right error."""
        text = self.text
        if not self.done:
            if not self.chunks:
                raise LLMEmptyResponse("stream ended without a single event")
            # Retryable: only matters when nothing was passed on yet, and then it is
            # no different from a dropped connection.
            raise LLMProtocolError("stream ended before [DONE]", retryable=True)
        if self.finish_reason == "insufficient_system_resource":
            raise LLMIncomplete("upstream ran out of resources mid-answer", partial_text=text)
        if not text.strip():
            raise LLMEmptyResponse("stream carried no content")
        return text, self.model, self.finish_reason, self.usage


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]
