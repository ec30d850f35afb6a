"""What the producers (both apps) and the worker agree on: task names and the time budget.

A module of its own so that both sides import it and neither imports the other: the worker's
tasks (``llm_tasks``) and the Celery app factory (``celery_app``) both read these names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shared.config import Settings

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
