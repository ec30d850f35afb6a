"""The process-wide thread pool behind ``DeepSeekClient.chat_threaded``.

One pool per process (sized by ``LLM_MAX_WORKERS`` the first time it is asked for), so
several clients or apps in one process cannot multiply the thread count. Created lazily.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def get_executor(max_workers: int) -> ThreadPoolExecutor:
    """The shared pool, created on first use with ``max_workers`` threads."""
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(
                    max_workers=max(1, max_workers), thread_name_prefix="llm"
                )
    return _executor


def shutdown_executor(wait: bool = True) -> None:
    """Stop the shared pool (tests and app shutdown); the next use creates a new one."""
    global _executor
    with _lock:
        pool, _executor = _executor, None
    if pool is not None:
        pool.shutdown(wait=wait)
