"""DeepSeek access: the client (sync, async, threaded, streaming; one call flow in
:mod:`shared.ai.flow`), its errors, the circuit breaker, the stream wrappers, and the
narrator's two faces (:class:`Narrator` blocking, :class:`AsyncNarrator` awaiting) with their
offline fallback. Importing this opens nothing."""

from shared.ai.breaker import CircuitBreaker
from shared.ai.deepseek_client import AsyncChatStream, ChatStream, DeepSeekClient
from shared.ai.errors import (
    CircuitOpenError,
    LLMConnectionError,
    LLMEmptyResponse,
    LLMError,
    LLMIncomplete,
    LLMNotConfigured,
    LLMProtocolError,
    LLMStatusError,
    LLMTimeout,
)
from shared.ai.narrator import (
    AsyncNarrationStream,
    AsyncNarrator,
    Narration,
    NarrationStream,
    Narrator,
)
from shared.ai.protocol import ChatResult
from shared.ai.retry import RetryPolicy
from shared.ai.streams import AsyncStream, Stream

__all__ = [
    "AsyncChatStream",
    "AsyncNarrationStream",
    "AsyncNarrator",
    "AsyncStream",
    "ChatResult",
    "ChatStream",
    "CircuitBreaker",
    "CircuitOpenError",
    "DeepSeekClient",
    "LLMConnectionError",
    "LLMEmptyResponse",
    "LLMError",
    "LLMIncomplete",
    "LLMNotConfigured",
    "LLMProtocolError",
    "LLMStatusError",
    "LLMTimeout",
    "Narration",
    "NarrationStream",
    "Narrator",
    "RetryPolicy",
    "Stream",
]
