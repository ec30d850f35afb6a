"""The one process manager of the dev tools and the tests.

Starts, on 127.0.0.1 only: the apps on their production servers (quart_app on hypercorn,
legacy_flask on gunicorn, with the ``deploy/`` config files), Celery workers, and the fake
DeepSeek server (:mod:`devtools.fake_deepseek`). Every process gets its own session (so its
process group is its whole tree), writes its output to a log file, is waited for with a
bounded readiness check, and is stopped by its PID: TERM to its process group, KILL after a
bound. Nothing is ever stopped by name.

    fake = start_fake(log_dir, latency=1.0)
    app = start_app("quart", {"DEEPSEEK_BASE_URL": fake.base_url, ...}, log_dir)
    ...
    app.stop(); fake.stop()

:func:`start_stack` starts one of the benchmark's :data:`STACKS` (an app, and for Celery its
workers).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from shared.config import Settings

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

FAKE_API_KEY = "sk-fake-test-key-0123456789"
FAKE_START_TIMEOUT = 20.0
FAKE_MAX_LIFETIME = 3600.0  # the fake exits on its own after this, even if nobody stops it

# Which app and LLM backend each benchmark stack runs. "flask" is the baseline.
STACKS: dict[str, dict[str, str]] = {
    "flask": {"app": "flask", "backend": "sync"},
    "quart-httpx": {"app": "quart", "backend": "httpx"},
    "quart-threadpool": {"app": "quart", "backend": "threadpool"},
    "quart-celery": {"app": "quart", "backend": "celery"},
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- one process ---------------------------------------------------------------------------------


@dataclass
class Proc:
    """One started process (the leader of its own process group) and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The process id (also its process group id)."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    def log_text(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the log (for error messages)."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process group, if it still runs."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole process group now."""
        self.signal(signal.SIGKILL)
        if self.popen.poll() is None:
            self.popen.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        """TERM the process group, KILL it after ``timeout`` s."""
        if not self.alive():
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def start(name: str, cmd: Sequence[str], env: Mapping[str, str], log_dir: Path,
          *, log_name: str | None = None) -> Proc:
    """Start ``cmd`` from the repo root in its own session, ``env`` on top of ours."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / (log_name or f"{name}.log")
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        popen = subprocess.Popen(list(cmd), cwd=ROOT, env=full_env, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    return Proc(name, popen, log_path)


def wait_until(check: Callable[[], object], proc: Proc, timeout: float, what: str) -> None:
    """Poll ``check()`` until truthy; raise RuntimeError (with the log tail) when the process
    dies or ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.log_tail()}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout:g} s:\n{proc.log_tail()}")


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when ``GET url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def post_json(url: str, body: object, timeout: float = 10.0) -> Any:
    """POST a JSON body, return the decoded JSON answer."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"{}")


def get_json(url: str, timeout: float = 10.0) -> Any:
    """GET ``url``, return the decoded JSON answer."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read() or b"{}")


# -- the fake DeepSeek ---------------------------------------------------------------------------


@dataclass
class FakeDeepSeek:
    """A running fake DeepSeek server: its URL, key and control endpoints (``/_fake/...``)."""

    proc: Proc
    base_url: str
    api_key: str = FAKE_API_KEY
    _http: httpx.Client | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def pid(self) -> int:
        """The fake's process id."""
        return self.proc.pid

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The fake's process."""
        return self.proc.popen

    @property
    def log_path(self) -> Path:
        """Where the fake's output goes."""
        return self.proc.log_path

    def _control(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        """One call to a control endpoint; raises httpx.HTTPStatusError on a 4xx/5xx."""
        if self._http is None:  # one client: building one costs ~90 ms (SSL context)
            self._http = httpx.Client(base_url=self.base_url, timeout=10.0, trust_env=False)
        response = self._http.request(method, path, json=body)
        response.raise_for_status()
        return dict(response.json())

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings (``latency``, ``faults``, ``fault``, ``api_key``...); returns them."""
        return self._control("POST", "/_fake/config", settings)

    def set_latency(self, seconds: float) -> None:
        """Change the upstream latency."""
        self.configure(latency=seconds)

    def reset(self) -> None:
        """Back to start-up settings, no queued faults, zero counts."""
        self._control("POST", "/_fake/reset")

    def stats(self) -> dict[str, Any]:
        """Request counts: ``requests``, ``chat``, ``streams``, ``faults``, ``statuses``..."""
        return self._control("GET", "/_fake/stats")

    def requests(self) -> list[Any]:
        """The bodies of the last chat requests the fake received (up to 64), oldest first;
        ``reset`` clears them."""
        return list(self._control("GET", "/_fake/requests")["bodies"])

    def close(self) -> None:
        """Close the control connection (the server keeps running)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def settings(self, **overrides: Any) -> Settings:
        """Settings whose DeepSeek base URL and key point at this fake."""
        from shared.config import Settings

        values: dict[str, Any] = {"deepseek_base_url": self.base_url,
                                  "deepseek_api_key": self.api_key}
        values.update(overrides)
        return Settings(**values)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the control connection and stop the fake by its PID."""
        self.close()
        self.proc.stop(timeout)


def fake_command(*, latency: float = 0.0, max_seconds: float = FAKE_MAX_LIFETIME,
                 extra: Sequence[str] = ()) -> list[str]:
    """The fake's command line: a free port, bounded life, gone when its parent is."""
    return [sys.executable, "-m", "devtools.fake_deepseek", "--host", "127.0.0.1", "--port", "0",
            "--latency", str(latency), "--max-seconds", str(max_seconds), "--exit-with-parent",
            *extra]


def start_fake(log_dir: Path, *, latency: float = 0.0, max_seconds: float = FAKE_MAX_LIFETIME,
               extra: Sequence[str] = (), name: str = "fake-deepseek") -> FakeDeepSeek:
    """Start the fake DeepSeek in a subprocess and wait for its ``READY <url>`` line."""
    proc = start(name, fake_command(latency=latency, max_seconds=max_seconds, extra=extra), {},
                 log_dir)
    found: list[str] = []

    def ready() -> bool:
        for line in proc.log_text().splitlines():
            if line.startswith("READY "):
                found.append(line.split()[1])
                return True
        return False

    try:
        wait_until(ready, proc, FAKE_START_TIMEOUT, "fake DeepSeek")
    except BaseException:
        proc.stop(5.0)
        raise
    return FakeDeepSeek(proc, found[0])


# -- the apps ------------------------------------------------------------------------------------


def server_command(app: str, port: int, *, workers: int | None = None,
                   threads: int | None = None, backlog: int | None = None) -> list[str]:
    """The production server command of ``app`` ("quart" or "flask") on ``port``, with the
    shipped ``deploy/`` config; ``workers``/``threads``/``backlog`` override it."""
    bind = f"127.0.0.1:{port}"
    if app == "quart":
        cmd = [str(BIN / "hypercorn"), "--config", str(ROOT / "deploy/hypercorn.toml")]
        target = "quart_app:create_app()"
    elif app == "flask":
        cmd = [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy/gunicorn.conf.py")]
        target = "legacy_flask:create_app()"
    else:
        raise ValueError(f"unknown app {app!r}")
    cmd += ["--bind", bind]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if threads is not None and app == "flask":
        cmd += ["--threads", str(threads)]
    if backlog is not None:
        cmd += ["--backlog", str(backlog)]
    return [*cmd, target]


@dataclass
class AppServer:
    """A running app server: which app, its URL and its process."""

    kind: str
    base_url: str
    proc: Proc

    @property
    def pid(self) -> int:
        """The server's (master's) process id."""
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        """Where the server's output goes."""
        return self.proc.log_path

    def log_text(self) -> str:
        """What the server printed so far (for failure messages)."""
        return self.proc.log_text()

    def stop(self, timeout: float = 15.0) -> None:
        """TERM, wait up to ``timeout``, then KILL; only this process group."""
        self.proc.stop(timeout)


def start_app(kind: str, env: Mapping[str, str], log_dir: Path, *, port: int | None = None,
              small: bool = False, workers: int | None = None, threads: int | None = None,
              backlog: int | None = None, ready_timeout: float = 60.0,
              cmd: Sequence[str] | None = None, name: str | None = None) -> AppServer:
    """Start ``kind`` ("quart" or "flask") with ``env`` added and wait for ``/readyz``.

    ``small`` runs legacy_flask on 2 workers x 16 threads instead of the shipped size (the
    tests' share of a small machine). ``cmd`` replaces the server command (e.g. hypercorn
    under a profiler); it must bind ``port``. Raises RuntimeError with the log when the
    server exits or is not ready in time.
    """
    port = port or free_port()
    if small and kind == "flask":
        workers, threads = workers or 2, threads or 16
    full_env = {"XIANXIA_RUNTIME_DIR": str(log_dir), **env}
    command = cmd or server_command(kind, port, workers=workers, threads=threads,
                                    backlog=backlog)
    proc = start(name or kind, command, full_env, log_dir, log_name=f"{name or kind}-{port}.log")
    server = AppServer(kind, f"http://127.0.0.1:{port}", proc)
    try:
        wait_until(lambda: http_ok(server.base_url + "/readyz", 1.0), proc, ready_timeout,
                   f"{kind} on port {port}")
    except BaseException:
        server.stop()
        raise
    return server


# -- Celery workers ------------------------------------------------------------------------------


def worker_command(hostname: str, *, pool: str = "threads", concurrency: int = 4) -> list[str]:
    """A Celery worker of ``shared.tasks.worker`` named ``hostname``."""
    return [str(BIN / "celery"), "-A", "shared.tasks.worker", "worker", "--pool", pool,
            "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
            "--without-heartbeat", "-n", hostname]


def celery_worker_ready(env: Mapping[str, str], hostname: str) -> bool:
    """True when the worker ``hostname`` answers a remote-control ping."""
    from shared.config import Settings
    from shared.tasks import make_celery

    app = make_celery(Settings.from_env(dict(env)))
    try:
        return bool(app.control.ping(destination=[hostname], timeout=1.0))
    finally:
        app.close()


def start_worker(env: Mapping[str, str], log_dir: Path, *, name: str = "worker",
                 pool: str = "threads", concurrency: int = 4,
                 ready_timeout: float = 60.0) -> Proc:
    """Start one Celery worker with ``env`` and wait until it answers a ping."""
    hostname = f"{name}-{uuid.uuid4().hex[:8]}@devtools"
    proc = start(name, worker_command(hostname, pool=pool, concurrency=concurrency), env,
                 log_dir)
    try:
        wait_until(lambda: celery_worker_ready(env, hostname), proc, ready_timeout,
                   f"Celery worker {hostname}")
    except BaseException:
        proc.stop()
        raise
    return proc


def drop_queue(redis_url: str, name: str) -> None:
    """Delete a Celery queue and the binding tables kombu keeps for it (they have no TTL)."""
    import redis

    with redis.Redis.from_url(redis_url, socket_connect_timeout=3.0) as client:
        client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")


# -- the benchmark's stacks ----------------------------------------------------------------------


@dataclass
class Stack:
    """A running stack: its server and, for Celery, its workers (servers last)."""

    name: str
    base_url: str
    procs: list[Proc] = field(default_factory=list)

    def stop(self) -> None:
        """Stop every process, the server first."""
        for proc in reversed(self.procs):
            proc.stop()


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


def start_stack(name: str, env: Mapping[str, str], log_dir: Path, worker_threads: int,
                worker_procs: int = 1, *, server: bool = True) -> Stack:
    """Start a benchmark stack and wait until it (and every Celery worker) is ready.

    The app runs on one hypercorn worker (gunicorn: the shipped config), backlog 2048. The
    celery stack gets ``worker_procs`` worker processes of ``worker_threads`` threads.
    ``server=False`` starts only the workers (the caller runs its own server).
    """
    spec = STACKS[name]
    port = free_port()
    stack = Stack(name, f"http://127.0.0.1:{port}")
    try:
        if spec["backend"] == "celery":
            for i in range(worker_procs):
                stack.procs.append(start_worker(env, log_dir, name=f"{name}-worker{i}",
                                                concurrency=worker_threads))
        if server:
            workers = 1 if spec["app"] == "quart" else None
            app = start_app(spec["app"], env, log_dir, port=port, workers=workers, backlog=2048,
                            name=name)
            stack.procs.append(app.proc)
    except BaseException:
        stack.stop()
        raise
    return stack
