"""Errors raised by the DeepSeek client.

Every failure the client reports is an :class:`LLMError`. ``retryable`` says whether the
retry loop may try again; ``reason`` is a short stable code the narrator records when it
falls back to offline text; ``trips_breaker`` says whether the failure counts against the
circuit breaker (client errors such as 400/401/422 prove the upstream is up, so they don't).
Messages are redacted before they are stored, so ``str(err)`` is safe to log.
"""

from __future__ import annotations

from shared.logging_setup import redact

# Statuses worth another attempt (same set as the official openai SDK).
RETRYABLE_STATUSES = frozenset({408, 409, 429})
# Client errors: the upstream answered properly, so the breaker stays closed.
NON_TRIPPING_STATUSES = frozenset({400, 401, 403, 404, 422})


class LLMError(Exception):
    """Base of every client error."""

    retryable: bool = False
    reason: str = "llm_error"
    trips_breaker: bool = True

    def __init__(self, message: str) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message


class LLMStatusError(LLMError):
    """The upstream answered with a non-2xx status."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.retry_after = retry_after  # seconds the upstream asked us to wait, if any
        self.retryable = status in RETRYABLE_STATUSES or status >= 500
        self.trips_breaker = status not in NON_TRIPPING_STATUSES
        self.reason = f"status_{status}"


class LLMTimeout(LLMError):
    """A connect/read timeout, or the call's total deadline ran out."""

    retryable = True
    reason = "timeout"


class LLMConnectionError(LLMError):
    """The connection failed or was reset."""

    retryable = True
    reason = "connection"


class LLMEmptyResponse(LLMError):
    """A 200 whose body was empty or only keep-alive whitespace, or whose content was blank."""

    retryable = True
    reason = "empty_response"


class LLMIncomplete(LLMError):
    """The upstream stopped early (``finish_reason: insufficient_system_resource``)."""

    retryable = True
    reason = "incomplete"

    def __init__(self, message: str, *, partial_text: str = "") -> None:
        super().__init__(message)
        self.partial_text = partial_text


class LLMProtocolError(LLMError):
    """The body could not be understood (malformed JSON, truncated stream...)."""

    reason = "protocol"

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class CircuitOpenError(LLMError):
    """The circuit breaker is open: the call failed fast without touching the upstream."""

    reason = "circuit_open"
    trips_breaker = False


class LLMNotConfigured(LLMError):
    """No API key is configured, so no upstream call can be made."""

    reason = "no_api_key"
    trips_breaker = False


__all__ = [
    "NON_TRIPPING_STATUSES",
    "RETRYABLE_STATUSES",
    "CircuitOpenError",
    "LLMConnectionError",
    "LLMEmptyResponse",
    "LLMError",
    "LLMIncomplete",
    "LLMNotConfigured",
    "LLMProtocolError",
    "LLMStatusError",
    "LLMTimeout",
]
