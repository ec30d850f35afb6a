"""LLM calls through Celery + Redis (``LLM_BACKEND=celery``, seed option C).

- :func:`make_celery` (``celery_app``): the Celery app, every setting derived from Settings;
- ``llm_tasks``: the tasks ``llm.complete`` and ``llm.narrate`` and the work they do;
- :class:`TaskQueue` / :class:`AsyncTaskQueue` (``queue``): what the apps call to submit and
  poll (``LLMTaskQueue`` is the blocking face's earlier name);
- ``worker``: the entry module of ``celery -A shared.tasks.worker worker``.
"""

from shared.tasks.celery_app import (
    COMPLETE_TASK,
    NARRATE_TASK,
    TaskTimings,
    celery_config,
    make_celery,
    task_timings,
)
from shared.tasks.errors import (
    LLMCallFailed,
    NarrationTargetMissing,
    QueueUnavailable,
    TaskTimeout,
)
from shared.tasks.queue import AsyncTaskQueue, LLMTaskQueue, TaskQueue

__all__ = [
    "COMPLETE_TASK",
    "NARRATE_TASK",
    "AsyncTaskQueue",
    "LLMCallFailed",
    "LLMTaskQueue",
    "NarrationTargetMissing",
    "QueueUnavailable",
    "TaskQueue",
    "TaskTimeout",
    "TaskTimings",
    "celery_config",
    "make_celery",
    "task_timings",
]
