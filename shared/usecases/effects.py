"""The effects a use case can ask its driver to perform.

A use case is a generator: it yields one of these small immutable requests and receives the
result (or has the exception thrown into it). It never does I/O itself, so the same code runs
under Flask (sync store, sync LLM face) and Quart (async store, async LLM face), as httpx's
auth flows and h11's protocol objects leave I/O to their caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.store import NewLogEntry


@dataclass(frozen=True, slots=True)
class LoadPlayer:
    """-> ``PlayerRow | None``."""

    player_id: str


@dataclass(frozen=True, slots=True)
class LoadPlayerWithRecent:
    """-> ``(PlayerRow | None, int)``: the player and its actions in the last ``seconds``."""

    player_id: str
    seconds: int


@dataclass(frozen=True, slots=True)
class CreatePlayer:
    """-> ``PlayerRow``."""

    player_id: str
    token_hash: str
    state: dict[str, Any]
    entry: NewLogEntry


@dataclass(frozen=True, slots=True)
class FindIdempotent:
    """-> ``LogEntry | None``: the entry an earlier request with this key wrote."""

    player_id: str
    key: str


@dataclass(frozen=True, slots=True)
class CommitAction:
    """-> ``CommitResult``; raises ``VersionConflict`` into the use case when it lost a race."""

    player_id: str
    expected_version: int
    state: dict[str, Any]
    entry: NewLogEntry


@dataclass(frozen=True, slots=True)
class Narrate:
    """-> ``Narration`` (never fails: the narrator degrades to the offline text)."""

    request: Any  # shared.game.NarrationRequest
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class QueueNarration:
    """-> task id: hand the narration to the Celery worker (LLM_BACKEND=celery)."""

    player_id: str
    seq: int
    request: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SaveNarration:
    """-> ``None``: attach the prose to the log entry ``seq``."""

    player_id: str
    seq: int
    text: str
    degraded: bool


@dataclass(frozen=True, slots=True)
class ListLog:
    """-> ``list[LogEntry]``, newest first."""

    player_id: str
    limit: int
    before_seq: int | None


@dataclass(frozen=True, slots=True)
class CompletePrompt:
    """-> ``Narration`` for a raw prompt (``/api/llm``)."""

    prompt: str


@dataclass(frozen=True, slots=True)
class SubmitPromptTask:
    """-> task id: a raw prompt for the Celery worker."""

    prompt: str


@dataclass(frozen=True, slots=True)
class GetTask:
    """-> ``dict | None``: a task's state; None for ids this service never issued."""

    task_id: str


@dataclass(frozen=True, slots=True)
class AwaitTask:
    """-> ``dict``: wait (bounded) for a task to finish; its final state."""

    task_id: str
    timeout: float


@dataclass(frozen=True, slots=True)
class OpenNarrationStream:
    """-> a narration stream (iterator of text deltas, then ``.result``)."""

    request: Any  # shared.game.NarrationRequest
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class NextDelta:
    """-> the next text delta of ``stream``, or None when it is exhausted."""

    stream: Any


@dataclass(frozen=True, slots=True)
class Emit:
    """Not an effect: a chunk of the response body for a streaming driver to send."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CheckReady:
    """-> ``None``; raises when the store does not answer."""


@dataclass(frozen=True, slots=True)
class PingTasks:
    """-> ``bool``: the task queue's Redis answers (Celery mode)."""


Effect = (
    LoadPlayer
    | LoadPlayerWithRecent
    | CreatePlayer
    | FindIdempotent
    | CommitAction
    | Narrate
    | QueueNarration
    | SaveNarration
    | ListLog
    | CompletePrompt
    | SubmitPromptTask
    | GetTask
    | AwaitTask
    | OpenNarrationStream
    | NextDelta
    | CheckReady
    | PingTasks
)
