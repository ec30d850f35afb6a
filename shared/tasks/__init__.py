"""LLM calls through Celery + Redis (``LLM_BACKEND=celery``, seed option C).

- :func:`make_celery` (``celery_app``): the Celery app, every setting derived from Settings;
- ``llm_tasks``: the tasks ``llm.complete`` and ``llm.narrate`` and the work they do;
- :class:`LLMTaskQueue` (``queue``): what both apps call to submit and poll;
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
from shared.tasks.queue import LLMTaskQueue

__all__ = [
    "COMPLETE_TASK",
    "NARRATE_TASK",
    "LLMCallFailed",
    "LLMTaskQueue",
    "NarrationTargetMissing",
    "QueueUnavailable",
    "TaskTimeout",
    "TaskTimings",
    "celery_config",
    "make_celery",
    "task_timings",
]
