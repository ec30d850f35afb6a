"""What started processes cost: CPU seconds and resident memory of whole process trees
(psutil), and what machine the numbers were measured on."""

from __future__ import annotations

import os
import platform
from importlib.metadata import version
from typing import Any

import psutil

from devtools.procs import Proc


def _tree(procs: list[Proc]) -> list[psutil.Process]:
    found: list[psutil.Process] = []
    for proc in procs:
        try:
            root = psutil.Process(proc.pid)
            found += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return found


def process_count(procs: list[Proc]) -> int:
    """How many processes the trees of ``procs`` hold now."""
    return len(_tree(procs))


def cpu_seconds(procs: list[Proc]) -> dict[int, float]:
    """user+system CPU seconds per PID of the whole trees of ``procs``."""
    out: dict[int, float] = {}
    for p in _tree(procs):
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return out


def cpu_by_proc(procs: list[Proc]) -> dict[str, float]:
    """user+system CPU seconds of each started process's whole tree, by its name."""
    return {proc.name: sum(cpu_seconds([proc]).values()) for proc in procs}


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two :func:`cpu_seconds` readings (new PIDs count in full)."""
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


def rss_bytes(procs: list[Proc]) -> int:
    """Summed resident memory of the whole trees of ``procs``."""
    total = 0
    for p in _tree(procs):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all CPUs, all processes) so far."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def redis_cpu_seconds(port: int = 6379) -> float | None:
    """CPU seconds of the machine's redis-server (read only; None when not visible)."""
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            if p.info["name"] == "redis-server" and f":{port}" in " ".join(p.info["cmdline"]):
                t = p.cpu_times()
                return float(t.user + t.system)
        except psutil.Error:
            continue
    return None


def gc_seconds(base_url: str) -> float | None:
    """The app's ``xianxia_gc_seconds_total`` summed over generations (None when the app has
    no such metric, e.g. the minimal comparison apps)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("xianxia_gc_seconds_total")]
    return sum(values) if values else None


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    pkgs = ("quart", "hypercorn", "flask", "gunicorn", "httpx", "aiohttp", "celery", "redis")
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {name: version(name) for name in pkgs},
    }
