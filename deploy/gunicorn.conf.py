"""Gunicorn settings for legacy_flask (see docs/deploy.md).

    gunicorn -c deploy/gunicorn.conf.py --bind 127.0.0.1:8002 "legacy_flask:create_app()"

Flags on the command line override the values here. Tunables come from the environment:
GUNICORN_WORKERS (default: 2 x CPUs, at most 8), GUNICORN_THREADS (default 32),
GUNICORN_BIND, and PROMETHEUS_MULTIPROC_DIR (default: a fresh folder per run under
XIANXIA_RUNTIME_DIR, or under the system temp folder).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8002")]

# gthread: a slow DeepSeek call holds a thread, not the worker's heartbeat, so the arbiter
# never kills a worker for waiting on the LLM (sync workers are killed after `timeout`).
# Concurrency = workers x threads; each worker has its own upstream pool and breaker.
worker_class = "gthread"
workers = _env_int("GUNICORN_WORKERS", min(2 * (os.cpu_count() or 1), 8))
threads = _env_int("GUNICORN_THREADS", 32)

# Above the longest LLM call (LLM_TOTAL_TIMEOUT, 90 s by default): `timeout` is the heartbeat
# limit for a stuck worker; `graceful_timeout` lets in-flight turns finish on TERM or HUP.
timeout = 120
graceful_timeout = 100

# Longer than HAProxy keeps an idle connection to an app (its idle pool is purged within
# seconds), so HAProxy closes first and never reuses one the app is closing.
keepalive = 20
backlog = 2048

# gunicorn's own request limits answer in HTML (414 for a line over 4,094 bytes, 431 for a
# header over 8,190). The app enforces its own limits and answers in the JSON envelope, so
# these only stop what nothing upstream stops: the request line is unlimited here (0; gunicorn
# still caps a line at 1 MiB), a header field may be as large as HAProxy forwards (its 16 KiB
# buffer), at most 100 fields (gunicorn's default).
limit_request_line = 0
limit_request_field_size = 16384
limit_request_fields = 100

# The heartbeat file in memory, not on a possibly slow disk (a stalled write looks like a hang).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# HAProxy writes the access log (with the app, status and timings); errors go to stderr.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "xianxia-flask"
# gunicorn 27 opens a control socket at ~/.gunicorn/gunicorn.ctl by default: one path shared by
# every instance of the user. The stack manages gunicorn by pid and signals instead.
control_socket_disable = True

_OWNED_DIR_KEY = "_XIANXIA_PROM_DIR_OWNED"


def on_starting(server: Any) -> None:
    """Give this run a clean Prometheus multiprocess folder before any worker starts.

    Workers inherit the variable, so every worker writes its own metric files there and
    ``shared.metrics.render()`` merges them. Stale files from an earlier run are removed,
    otherwise old counters would be added to the new run's.
    """
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    else:
        base = Path(os.environ.get("XIANXIA_RUNTIME_DIR", "") or tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix="prometheus-flask-", dir=base))
        os.environ[_OWNED_DIR_KEY] = str(path)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    server.log.info("prometheus multiprocess folder: %s", path)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges (in-flight calls, breaker state) from /metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """Remove the per-run metrics folder this config created (not one the operator gave)."""
    owned = os.environ.get(_OWNED_DIR_KEY)
    if owned:
        shutil.rmtree(owned, ignore_errors=True)
