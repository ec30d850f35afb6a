"""The worker's entry module: ``celery -A shared.tasks.worker worker``.

Unlike every other module under ``shared/``, importing this one does work: it reads the
settings from the environment and builds the Celery app, because that is what Celery's ``-A``
expects to find. Everything else waits: the world is loaded when the worker starts (so bad
data stops it, as it stops the apps), and the client, narrator and store are built on a
task's first use, in the process that runs it.

Run it as, for example::

    celery -A shared.tasks.worker worker --concurrency 64

Settings come from the environment as for the apps (``REDIS_URL``, ``CELERY_QUEUE``,
``DATABASE_URL``, ``DEEPSEEK_*``, ``LLM_*``); the log level is ``LOG_LEVEL``, not
``--loglevel``, because the worker logs through our redacting handler.

The pool defaults to threads (``worker_pool`` in :mod:`shared.tasks.celery_app`); to run
prefork children instead pass ``-P processes`` (Celery replaces the spelling ``prefork`` with
the configured default).
"""

from __future__ import annotations

from typing import Any

from celery.signals import setup_logging, worker_init, worker_process_shutdown, worker_shutdown

from shared.config import Settings
from shared.logging_setup import add_secret, configure_logging
from shared.tasks.celery_app import make_celery
from shared.tasks.resources import WorkerResources

settings = Settings.from_env()
resources = WorkerResources(settings)
app = make_celery(settings, resources)


@setup_logging.connect
def _logging(**_: Any) -> None:
    # Our redacting handler instead of Celery's: task errors may quote upstream bodies.
    configure_logging(settings.log_level, app_name="celery")
    add_secret(settings.deepseek_api_key)


@worker_init.connect
def _warm(**_: Any) -> None:
    # In the main process before the pool starts (prefork children inherit the imports).
    resources.warm()


@worker_shutdown.connect
@worker_process_shutdown.connect
def _close_resources(**_: Any) -> None:
    resources.close()
