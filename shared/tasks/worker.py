"""The worker's entry module: ``celery -A shared.tasks.worker worker``.

Unlike every other module under ``shared/``, importing this one does work: it reads the
settings from the environment and builds the Celery app, because that is what Celery's ``-A``
expects to find. The client, world, narrator and store are still built lazily, on a task's
first use, in the process (or thread pool) that runs it.

Run it as, for example::

    celery -A shared.tasks.worker worker --concurrency 64 --loglevel INFO

The pool defaults to threads (``worker_pool`` in :mod:`shared.tasks.celery_app`); to run
prefork children instead pass ``-P processes`` (Celery replaces the spelling ``prefork`` with
the configured default).
"""

from __future__ import annotations

from typing import Any

from celery.signals import setup_logging, worker_process_shutdown, worker_shutdown

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


@worker_shutdown.connect
@worker_process_shutdown.connect
def _close_resources(**_: Any) -> None:
    resources.close()
