"""Errors of the task queue: what a producer sees, and what a task ends in FAILURE with."""

from __future__ import annotations

from shared.errors import AppError, NotReady


class QueueUnavailable(NotReady):
    """503: the broker (Redis) did not take the task."""

    code = "queue_unavailable"


class TaskTimeout(AppError):
    """504: a task did not finish within the time the caller was willing to wait."""

    status = 504
    code = "task_timeout"


class NarrationTargetMissing(LookupError):
    """A narration task named a log entry the store does not have (ends the task in FAILURE)."""


class LLMCallFailed(Exception):
    """The upstream call failed for good (strict tasks only); the message names the LLM error.

    Celery stores a failure as the nearest base class it can rebuild from ``exc.args``; the
    client's errors take more than one argument and would be stored as a bare ``LLMError``,
    so the task raises this one-argument error instead, e.g.
    ``LLMCallFailed: LLMStatusError: HTTP 500: Server Error``.
    """

    @classmethod
    def wrap(cls, err: BaseException) -> LLMCallFailed:
        """The failure for client error ``err``."""
        return cls(f"{type(err).__name__}: {err}")
