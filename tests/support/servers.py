"""Real app servers for tests: a thin face of ``devtools.procs`` (the one process manager).

``start_app_server(kind, env, log_dir)`` starts quart_app on hypercorn or legacy_flask on
gunicorn (2 workers x 16 threads) on a free 127.0.0.1 port and waits for ``/readyz``; stop it
with ``server.stop()`` (by PID: TERM, then KILL after a bound).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from devtools.procs import AppServer, start_app

__all__ = ["AppServer", "start_app_server"]


def start_app_server(kind: str, env: Mapping[str, str], log_dir: Path,
                     ready_timeout: float = 60.0) -> AppServer:
    """Start ``kind`` ("quart" or "flask") with ``env`` added, and wait until it answers."""
    return start_app(kind, env, log_dir, small=True, ready_timeout=ready_timeout)
