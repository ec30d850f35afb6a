"""The Celery application for LLM calls (seed option C): one factory, every setting derived.

Both the producers (the Flask and Quart apps, through :class:`shared.tasks.queue.LLMTaskQueue`)
and the worker (``celery -A shared.tasks.worker worker``) build their app here, so the
time limits, the Redis visibility timeout and the result expiry cannot drift apart.
"""

from __future__ import annotations

from celery import Celery

from shared.config import Settings
from shared.tasks.contract import (
    COMPLETE_TASK,
    NARRATE_TASK,
    RESULT_TTL_SECONDS,
    TaskTimings,
    task_timings,
)
from shared.tasks.llm_tasks import register_tasks
from shared.tasks.resources import WorkerResources

__all__ = [
    "APP_NAME",
    "COMPLETE_TASK",
    "NARRATE_TASK",
    "RESULT_TTL_SECONDS",
    "TaskTimings",
    "celery_config",
    "make_celery",
    "task_timings",
]

APP_NAME = "xianxia"


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
    app = Celery(APP_NAME, set_as_current=False)
    app.conf.update(celery_config(settings))
    register_tasks(app, resources or WorkerResources(settings))
    return app
