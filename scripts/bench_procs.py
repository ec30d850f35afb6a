"""Processes for ``scripts/bench.py``: the fake upstream, the stacks under test, and what
they cost (CPU seconds and RSS of whole process trees, read with psutil).

Every process is started in its own session on 127.0.0.1 and stopped by its PID (TERM to
its process group, KILL after a bound).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Which app, server and LLM backend each stack runs. "flask" is the baseline.
STACKS: dict[str, dict[str, str]] = {
    "flask": {"app": "flask", "backend": "sync"},
    "quart-httpx": {"app": "quart", "backend": "httpx"},
    "quart-threadpool": {"app": "quart", "backend": "threadpool"},
    "quart-celery": {"app": "quart", "backend": "celery"},
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """One started process (and its process group)."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        """TERM the process group, KILL it after ``timeout`` s."""
        if not self.alive():
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)
        except ProcessLookupError:
            pass


def start(name: str, cmd: list[str], env: dict[str, str], log_dir: Path) -> Proc:
    """Start ``cmd`` in its own session with ``env`` on top of ours; output to a log file."""
    log_path = log_dir / f"{name}.log"
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        popen = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    return Proc(name, popen, log_path)


def wait_until(check: object, proc: Proc, timeout: float, what: str) -> None:
    """Poll ``check()`` until true; raise with the log tail when the process dies or time ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.log_tail()}")
        try:
            if check():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout:g} s:\n{proc.log_tail()}")


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when GET ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def post_json(url: str, body: dict[str, object], timeout: float = 5.0) -> dict[str, object]:
    """POST a JSON body, return the JSON answer."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"{}")  # type: ignore[no-any-return]


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import platform
    from importlib.metadata import version

    pkgs = ("quart", "hypercorn", "flask", "gunicorn", "httpx", "aiohttp", "celery", "redis")
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {name: version(name) for name in pkgs},
    }


# -- the fake upstream ---------------------------------------------------------------------------


@dataclass
class Fake:
    """The fake DeepSeek server."""

    proc: Proc
    base_url: str

    def set_latency(self, seconds: float) -> None:
        """Change the upstream latency through the fake's control endpoint."""
        post_json(self.base_url + "/_fake/config", {"latency": seconds})


def start_fake(log_dir: Path, latency: float, max_seconds: float) -> Fake:
    """Start ``scripts/fake_deepseek.py`` on a free port; it exits with us or after a bound."""
    cmd = [sys.executable, str(ROOT / "scripts/fake_deepseek.py"), "--host", "127.0.0.1",
           "--port", "0", "--latency", str(latency), "--exit-with-parent",
           "--max-seconds", str(max_seconds)]
    proc = start("fake-deepseek", cmd, {}, log_dir)
    found: list[str] = []

    def ready() -> bool:
        for line in proc.log_path.read_text(errors="replace").splitlines():
            if line.startswith("READY "):
                found.append(line.split()[1])
                return True
        return False

    wait_until(ready, proc, 20.0, "fake DeepSeek")
    return Fake(proc, found[0])


# -- the stacks ----------------------------------------------------------------------------------


@dataclass
class Stack:
    """A running stack: its server and, for Celery, its worker."""

    name: str
    base_url: str
    procs: list[Proc] = field(default_factory=list)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def drop_queue(redis_url: str, name: str) -> None:
    """Delete a Celery queue and the binding tables kombu keeps for it (they have no TTL)."""
    import redis

    with redis.Redis.from_url(redis_url, socket_connect_timeout=3.0) as client:
        client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")


def stack_env(name: str, fake_url: str, run_dir: Path, redis_url: str) -> dict[str, str]:
    """The environment of one stack: its own SQLite file and Celery queue, the fake upstream."""
    spec = STACKS[name]
    return {
        "DATABASE_URL": f"sqlite:///{run_dir / (name + '.db')}",
        "DEEPSEEK_API_KEY": "sk-bench",
        "DEEPSEEK_BASE_URL": fake_url,
        "LLM_BACKEND": spec["backend"],
        "REDIS_URL": redis_url,
        "CELERY_QUEUE": f"bench-{name}-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
        "XIANXIA_RUNTIME_DIR": str(run_dir),
    }


def server_command(app: str, port: int) -> list[str]:
    """The shipped server command of each app, on ``port`` (deploy/ config files)."""
    bind = f"127.0.0.1:{port}"
    if app == "flask":
        cmd = [str(BIN / "gunicorn")]
        if (ROOT / "deploy/gunicorn.conf.py").exists():
            cmd += ["-c", str(ROOT / "deploy/gunicorn.conf.py")]
        else:
            cmd += ["-k", "gthread", "-w", "4", "--threads", "32"]
        return [*cmd, "--bind", bind, "--backlog", "2048", "legacy_flask:create_app()"]
    cmd = [str(BIN / "hypercorn")]
    if (ROOT / "deploy/hypercorn.toml").exists():
        cmd += ["--config", str(ROOT / "deploy/hypercorn.toml")]
    return [*cmd, "--bind", bind, "--workers", "1", "--backlog", "2048", "quart_app:create_app()"]


def worker_command(concurrency: int, hostname: str) -> list[str]:
    """The Celery worker for the celery stack (thread pool)."""
    return [str(BIN / "celery"), "-A", "shared.tasks.worker", "worker", "--pool", "threads",
            "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
            "--without-heartbeat", "-n", hostname]


def start_stack(
    name: str, env: dict[str, str], log_dir: Path, worker_threads: int, worker_procs: int = 1
) -> Stack:
    """Start a stack and wait until ``/readyz`` (and, for Celery, every worker) is ready.

    The celery stack gets ``worker_procs`` worker processes of ``worker_threads`` threads.
    """
    spec = STACKS[name]
    port = free_port()
    stack = Stack(name, f"http://127.0.0.1:{port}")
    try:
        if spec["backend"] == "celery":
            for i in range(worker_procs):
                hostname = f"bench-{i}-{uuid.uuid4().hex[:8]}@bench"
                worker = start(f"{name}-worker{i}", worker_command(worker_threads, hostname), env,
                               log_dir)
                stack.procs.append(worker)
                wait_until(lambda h=hostname: celery_worker_ready(env, h), worker, 60.0,
                           "Celery worker")
        server = start(name, server_command(spec["app"], port), env, log_dir)
        stack.procs.append(server)
        wait_until(lambda: http_ok(stack.base_url + "/readyz"), server, 60.0, name)
    except BaseException:
        stack.stop()
        raise
    return stack


def celery_worker_ready(env: dict[str, str], hostname: str) -> bool:
    """True when the worker ``hostname`` answers a remote-control ping."""
    from shared.config import Settings
    from shared.tasks import make_celery

    app = make_celery(Settings.from_env(env))
    try:
        return bool(app.control.ping(destination=[hostname], timeout=1.0))
    finally:
        app.close()


# -- cost of a process tree ----------------------------------------------------------------------


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
