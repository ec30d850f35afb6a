"""Helpers for the ops tests (no tests here): the stack's scripts on free ports, and stand-ins.

``OpsStack`` drives ``scripts/stack.sh`` and ``scripts/toggle_async.sh`` against a runtime
folder of its own and free ports, exactly as an operator would (env vars, exit codes, files).
``StandIn`` is a tiny threaded HTTP app that plays quart_app or legacy_flask for the toggle's
unit tests: it can be healthy, not ready, claim the wrong name, turn sick after its health
checks, or take a POST and drop the connection without answering.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from shared.config import REPO_ROOT
from tests.conftest import free_port, service_missing

SCRIPTS = REPO_ROOT / "scripts"
HAPROXY_CANDIDATES = ("/usr/sbin/haproxy", "/usr/bin/haproxy")


def haproxy_bin() -> str:
    """The haproxy binary, or skip/fail the test (service_missing) when there is none."""
    found = shutil.which("haproxy") or next(
        (p for p in HAPROXY_CANDIDATES if os.access(p, os.X_OK)), None
    )
    if not found:
        service_missing("haproxy", "no haproxy binary (scripts/dev.sh test installs haproxy)")
    return str(found)


@dataclass
class OpsStack:
    """One stack's runtime folder, ports and environment, and its scripts."""

    runtime: Path
    lb_port: int
    quart_port: int
    flask_port: int
    haproxy: str
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, **extra_env: str) -> OpsStack:
        """A fresh runtime folder (readable by all, so `nobody` can read it in a test)."""
        runtime = Path(tempfile.mkdtemp(prefix="xianxia-ops-"))
        runtime.chmod(0o755)
        return cls(runtime, free_port(), free_port(), free_port(), haproxy_bin(), dict(extra_env))

    @property
    def env(self) -> dict[str, str]:
        """The environment every script call gets."""
        env = {k: v for k, v in os.environ.items() if k not in ("ASYNC_MODE", "LLM_BACKEND")}
        env.update(
            XIANXIA_RUNTIME_DIR=str(self.runtime),
            LB_PORT=str(self.lb_port),
            QUART_PORT=str(self.quart_port),
            FLASK_PORT=str(self.flask_port),
            HAPROXY_BIN=self.haproxy,
            DATABASE_URL=f"sqlite:///{self.runtime / 'game.db'}",
            HEALTH_TRIES="2",
            HEALTH_DELAY="0.2",
            PROBE_TIMEOUT="3",
        )
        env.update(self.extra_env)
        return env

    @property
    def lb_url(self) -> str:
        """HAProxy's public address."""
        return f"http://127.0.0.1:{self.lb_port}"

    @property
    def mode_map(self) -> Path:
        """The mode map the toggle rewrites (and changes in HAProxy through the socket)."""
        return self.runtime / "haproxy" / "mode.map"

    @property
    def admin_sock(self) -> Path:
        """HAProxy's runtime API."""
        return self.runtime / "haproxy" / "admin.sock"

    @property
    def toggle_log(self) -> Path:
        """One line per switch attempt."""
        return self.runtime / "logs" / "toggle.log"

    def run(self, script: str, *args: str, timeout: float = 90, user: str | None = None,
            **env: str) -> subprocess.CompletedProcess[str]:
        """Run scripts/<script> with this stack's env (plus ``env``); bounded in time."""
        cmd = [str(SCRIPTS / script), *args]
        if user is not None:
            uid = user.split(":")[0]
            gid = user.split(":")[1] if ":" in user else uid
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *cmd]
        return subprocess.run(cmd, cwd=REPO_ROOT, env={**self.env, **env}, text=True,
                              capture_output=True, timeout=timeout, check=False)

    def toggle(self, *args: str, timeout: float = 90,
               **env: str) -> subprocess.CompletedProcess[str]:
        """scripts/toggle_async.sh ARGS."""
        return self.run("toggle_async.sh", *args, timeout=timeout, **env)

    def stack(self, *args: str, timeout: float = 90,
              **env: str) -> subprocess.CompletedProcess[str]:
        """scripts/stack.sh ARGS."""
        return self.run("stack.sh", *args, timeout=timeout, **env)

    def lb_state(self) -> str:
        """What /__lb says HAProxy serves now."""
        return httpx.get(self.lb_url + "/__lb", timeout=5).text.strip()

    def admin(self, command: str) -> str:
        """One command on HAProxy's admin socket; its answer."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.admin_sock))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def server_status(self, backend: str, server: str) -> str:
        """UP, DOWN, MAINT... as HAProxy's checks see ``backend/server``."""
        for line in self.admin("show stat").splitlines():
            cols = line.split(",")
            if len(cols) > 17 and cols[0] == backend and cols[1] == server:
                return cols[17]
        return ""

    def pids(self) -> dict[str, int]:
        """Every pid the stack wrote (apps and haproxy)."""
        found: dict[str, int] = {}
        for path in (self.runtime / "pids").glob("*.pid"):
            try:
                found[path.stem] = int(path.read_text().strip())
            except (OSError, ValueError):
                continue
        return found

    def teardown(self) -> None:
        """Stop everything through the script, then make sure by pid; remove the folder."""
        pids = self.pids()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.stack("stop", timeout=150, STOP_TIMEOUT="20")
        for pid in pids.values():
            kill_group_if_alive(pid)
        if os.environ.get("KEEP_OPS_RUNTIME"):  # keep logs and configs for a post-mortem
            print(f"ops runtime kept: {self.runtime}")
            return
        shutil.rmtree(self.runtime, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def kill_group_if_alive(pid: int) -> None:
    """Last resort in a teardown: KILL the process group the stack created for ``pid``."""
    if not pid_alive(pid):
        return
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def wait_until(check: Any, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``check()`` until it is truthy or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False


# --- stand-in apps ----------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real servers behind HAProxy
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _StandInServer

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def handle_one_request(self) -> None:
        if self.server.owner.dead:
            self.close_connection = True
            return
        super().handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-App", self.server.owner.name)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        app = self.server.owner
        path = self.path.split("?")[0]
        if path == "/readyz" and "haproxy-check" in self.headers.get("User-Agent", ""):
            # HAProxy's own health check: not counted, follows the same sickness.
            self._send(200 if app.lb_check_ok() else 503, {"status": "checked"})
            return
        if path in ("/healthz", "/readyz"):
            ok = app.health_hit(path)
            if path == "/healthz" and ok:
                self._send(200, {"status": "ok", "app": app.report_as, "version": "standin"})
            elif path == "/readyz" and ok and app.ready:
                self._send(200, {"status": "ready"})
            else:
                self._send(503, {"error": {"code": "not_ready", "message": "stand-in is sick"}})
            return
        if path == "/slow":
            time.sleep(app.slow_seconds)
        if path == "/stream":
            self._stream(app)
            return
        with app._lock:
            app.requests += 1
        self._send(200, {"app": app.name, "path": path})

    def _stream(self, app: StandIn) -> None:
        """Server-sent events, one every ``stream_gap`` seconds, like a narration stream."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-App", app.name)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(app.stream_events):
            event = f"data: {app.name} {i}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
            time.sleep(app.stream_gap)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_POST(self) -> None:
        app = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        app.posts.append(body)
        if app.drop_posts:
            # The request arrived and was read; the connection dies before any answer.
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self._send(200, {"app": app.name, "received": len(app.posts)})


class _StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: StandIn) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", owner.port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about connections the peer reset (HAProxy ends its health checks with a RST)."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        """Close every open connection, as the kernel does when a process dies."""
        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class StandIn:
    """A stand-in for one app on 127.0.0.1:port, run in a thread of the test process."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.port = port
        self.report_as = name
        self.ready = True
        self.sick_after: int | None = None  # health answers before every one becomes 503
        self.dead = False
        self.drop_posts = False
        self.posts: list[bytes] = []
        self.health_hits = 0
        self.lb_checks = 0
        self.requests = 0  # answered requests other than health checks and streams
        self.stream_events = 5
        self.stream_gap = 0.2
        self.slow_seconds = 2.0  # how long GET /slow takes
        self._lock = threading.Lock()
        self._server: _StandInServer | None = None
        self._thread: threading.Thread | None = None

    def health_hit(self, path: str) -> bool:
        """Count a health request; False once the stand-in has turned sick."""
        with self._lock:
            self.health_hits += 1
            return self.sick_after is None or self.health_hits <= self.sick_after

    def lb_check_ok(self) -> bool:
        """What HAProxy's health check sees: ready, and not (yet) sick."""
        with self._lock:
            self.lb_checks += 1
            sick = self.sick_after is not None and self.health_hits >= self.sick_after
        return self.ready and not sick

    def start(self) -> StandIn:
        """Listen and serve in a daemon thread."""
        self.dead = False
        self._server = _StandInServer(self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every connection: to HAProxy it looks like a killed app."""
        self.dead = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.drop_connections()
            self._server = None


@dataclass
class StandInPair:
    """Both stand-ins and the stack whose ports they use."""

    stack: OpsStack
    quart: StandIn
    flask: StandIn


def standin_stack(**extra_env: str) -> Generator[StandInPair, None, None]:
    """Stand-ins on the stack's app ports and HAProxy in front."""
    stack = OpsStack.create(**extra_env)
    quart = StandIn("quart", stack.quart_port).start()
    flask = StandIn("flask", stack.flask_port).start()
    try:
        started = stack.stack("start", "haproxy", timeout=60)
        assert started.returncode == 0, started.stderr
        yield StandInPair(stack, quart, flask)
    finally:
        stack.teardown()
        quart.stop()
        flask.stop()
