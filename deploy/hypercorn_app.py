"""The quart_app that hypercorn serves, with workers that never outlive their master.

    hypercorn --config deploy/hypercorn.toml --workers 2 "deploy/hypercorn_app.py:create_app()"

With ``--workers N`` (N >= 1) hypercorn's master spawns N worker processes that share the
listening socket. If the master is killed alone (SIGKILL, an OOM kill), nothing tells the
workers: they keep the port, and a restart fails with "Address already in use". Each worker
built through this module asks the kernel for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``), and exits at once if the parent is already gone. Run in hypercorn's
own process (``workers = 0``, the default in deploy/hypercorn.toml), it does nothing more than
``quart_app.create_app()``.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent() -> None:
    """In a spawned worker: SIGTERM when the master dies; exit now if it already has."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return  # hypercorn's own process (workers = 0): its parent is the shell that started it
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # The master may have died before the prctl: then we were re-parented already.
    if os.getppid() != parent.pid:
        os._exit(1)


def _forget_dead_workers() -> None:
    """Drop the live gauges (in-flight calls, breaker state) of workers that are gone.

    hypercorn has no hook like gunicorn's ``child_exit``; a worker that replaces a dead one
    cleans up after it when it starts, so ``/metrics`` counts live processes only.
    """
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if not folder:
        return
    from prometheus_client import multiprocess

    pids: set[int] = set()
    for path in Path(folder).glob("gauge_live*_*.db"):
        tail = path.stem.rsplit("_", 1)[-1]
        if tail.isdigit():
            pids.add(int(tail))
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
        except PermissionError:
            continue  # alive, another user's


def create_app(**kwargs: Any) -> Any:
    """``quart_app.create_app()`` in a worker that dies with its master."""
    _die_with_parent()
    _forget_dead_workers()
    # hypercorn put this folder on sys.path to import this module; the repo root holds the app.
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from quart_app import create_app as build

    return build(**kwargs)
