"""Real app servers for tests: a thin face of ``devtools.procs`` (the one process manager).

``start_app_server(kind, env, log_dir)`` starts quart_app on hypercorn or legacy_flask on
gunicorn (2 workers x 16 threads) on a free 127.0.0.1 port and waits for ``/readyz``; stop it
with ``server.stop()`` (by PID: TERM, then KILL after a bound).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from devtools.procs import AppServer, start_app

__all__ = ["AppServer", "both_apps", "start_app_server"]


def start_app_server(kind: str, env: Mapping[str, str], log_dir: Path,
                     ready_timeout: float = 60.0) -> AppServer:
    """Start ``kind`` ("quart" or "flask") with ``env`` added, and wait until it answers."""
    return start_app(kind, env, log_dir, small=True, ready_timeout=ready_timeout)


@contextmanager
def both_apps(env: Mapping[str, str], log_dir: Path) -> Iterator[dict[str, AppServer]]:
    """legacy_flask and quart_app on real servers with the same ``env``; both stopped after."""
    started: dict[str, AppServer] = {}
    try:
        for kind in ("flask", "quart"):
            started[kind] = start_app_server(kind, env, log_dir)
        yield started
    finally:
        for server in started.values():
            server.stop()
