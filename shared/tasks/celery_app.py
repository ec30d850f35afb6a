"""The Celery application for LLM calls (seed option C): one factory, every setting derived.

Both the producers (the Flask and Quart apps, through :class:`shared.tasks.queue.LLMTaskQueue`)
and the worker (``celery -A shared.tasks.worker worker``) build their app here, so the
time limits, the Redis visibility timeout and the result expiry cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from celery import Celery

from shared.config import Settings

if TYPE_CHECKING:
    from shared.tasks.resources import WorkerResources

APP_NAME = "xianxia"
COMPLETE_TASK = "llm.complete"
NARRATE_TASK = "llm.narrate"
# Results (and the record of issued ids) live this long; enough for any client to poll.
RESULT_TTL_SECONDS = 3600


@dataclass(frozen=True)
class TaskTimings:
    """The time budget of one LLM task, derived from the client's own deadline.

    ``soft_time_limit`` and ``time_limit`` sit above the client's total deadline, so they only
    fire if something hangs outside the client (Celery enforces them in prefork children
    only; under the thread pool the client's deadline is the bound). ``visibility_timeout``
    sits above the longest time a message can stay unacknowledged (a retry's delay plus a
    full run), so Redis never hands a call that is still running to a second worker.
    """

    soft_time_limit: float
    time_limit: float
    max_retries: int
    retry_delay: float
    visibility_timeout: int
    restore_interval: float
    result_ttl: int


def task_timings(settings: Settings) -> TaskTimings:
    """Derive every Celery time setting from ``settings.llm_total_timeout``."""
    # The narrator's offline fallback and the store write need well under 5 s after the
    # client's deadline; the hard limit then gives the soft limit's handler 5 s more.
    soft = settings.llm_total_timeout + 5.0
    hard = soft + 5.0
    retry_delay = 2.0
    visibility = math.ceil(hard + retry_delay + 10.0)
    return TaskTimings(
        soft_time_limit=soft,
        time_limit=hard,
        # The client already retried inside the call; the task adds one retry, and only when
        # the upstream could not even be reached (no tokens were spent).
        max_retries=1,
        retry_delay=retry_delay,
        visibility_timeout=visibility,
        # A dead worker's messages come back within one sweep after the visibility timeout.
        restore_interval=max(2.0, visibility / 10),
        result_ttl=RESULT_TTL_SECONDS,
    )


def celery_config(settings: Settings) -> dict[str, object]:
    """The Celery settings for ``settings`` (a plain mapping, so tests can read it)."""
    t = task_timings(settings)
    return {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url,
        "task_default_queue": settings.celery_queue,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_track_started": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # A task that failed or hit its time limit is finished: acknowledge it, never rerun it.
        "task_acks_on_failure_or_timeout": True,
        "task_soft_time_limit": t.soft_time_limit,
        "task_time_limit": t.time_limit,
        "result_expires": t.result_ttl,
        "worker_prefetch_multiplier": 1,
        # LLM tasks wait on the network: threads, one shared client, as many as chat_threaded.
        "worker_pool": "threads",
        "worker_concurrency": settings.llm_max_workers,
        # Tasks cut off from the broker will be redelivered, so prefork cancels them rather
        # than run them twice (a thread cannot be cancelled: there llm.narrate's idempotence
        # keeps the second run from calling the LLM again).
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_hijack_root_logger": False,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": t.visibility_timeout,
            "unacked_restore_interval": t.restore_interval,
            "unacked_restore_throttle": 1,
        },
        # A producer must not hang on a dead Redis: a few quick tries, then an error.
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0.0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "redis_socket_connect_timeout": 3.0,
        "redis_backend_health_check_interval": 30,
    }


def make_celery(settings: Settings, resources: WorkerResources | None = None) -> Celery:
    """A Celery app on ``settings.redis_url`` with the LLM tasks registered.

    Registering costs nothing: the tasks build their client, world, narrator and store (from
    ``resources``, default a fresh :class:`WorkerResources`) on first use, inside the worker.
    """
    from shared.tasks.llm_tasks import register_tasks
    from shared.tasks.resources import WorkerResources

    app = Celery(APP_NAME, set_as_current=False)
    app.conf.update(celery_config(settings))
    register_tasks(app, resources or WorkerResources(settings))
    return app
