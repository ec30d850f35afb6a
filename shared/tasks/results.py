"""Reading a task's state straight from the Redis result backend's stored meta.

Both faces (blocking and async) read the same key Celery's Redis backend writes
(``celery-task-meta-<id>``) and turn it into the one status shape the apps serve. Reading the
raw meta, rather than through ``AsyncResult``, keeps the async face off Celery's blocking
client and never rebuilds exception classes from a stored type name.
"""

from __future__ import annotations

import re
from typing import Any

from celery import states

TaskStatus = dict[str, Any]

# The states a client may see; Celery's others map onto them.
PUBLIC_STATES = ("PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE")
_FINAL = frozenset({states.SUCCESS, states.FAILURE, states.REVOKED})
# Our ids are uuid4 strings; anything else was never issued and is not worth a Redis call.
_TASK_ID = re.compile(r"^[0-9a-fA-F-]{32,36}$")


def looks_like_task_id(task_id: str) -> bool:
    """True when ``task_id`` has the shape of an id this service issues."""
    return bool(_TASK_ID.match(task_id))


def is_final(meta: dict[str, Any] | None) -> bool:
    """True when the stored meta is a final state (success, failure or revoked)."""
    return meta is not None and meta.get("status") in _FINAL


def describe_error(result: Any) -> str:
    """``"LLMStatusError: HTTP 500: ..."`` from a stored exception (or whatever was stored)."""
    if isinstance(result, dict) and "exc_type" in result:
        message = result.get("exc_message")
        if isinstance(message, list | tuple):
            message = " ".join(str(part) for part in message)
        return f"{result['exc_type']}: {message}" if message else str(result["exc_type"])
    return str(result)


def status_from_meta(task_id: str, meta: dict[str, Any] | None) -> TaskStatus:
    """The public status of an issued task from its stored meta (None: not started yet)."""
    if not meta:
        return {"task_id": task_id, "state": "PENDING"}  # queued, not started yet
    state = meta.get("status")
    if state == states.SUCCESS:
        return {"task_id": task_id, "state": "SUCCESS", "result": meta["result"]}
    if state in (states.FAILURE, states.REVOKED):
        error = "revoked" if state == states.REVOKED else describe_error(meta["result"])
        return {"task_id": task_id, "state": "FAILURE", "error": error}
    if state == states.RETRY:
        return {"task_id": task_id, "state": "RETRY", "error": describe_error(meta["result"])}
    if state == states.STARTED:
        return {"task_id": task_id, "state": "STARTED"}
    # No meta yet (queued), or RECEIVED/other transient states: still waiting.
    return {"task_id": task_id, "state": "PENDING"}
