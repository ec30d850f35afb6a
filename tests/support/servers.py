"""Start the real apps (hypercorn, gunicorn) on 127.0.0.1 for end-to-end tests.

Every process is started here, waited for through ``/healthz``, and stopped by PID
(TERM, then KILL after a bound) by the caller's fixture teardown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.config import REPO_ROOT
from tests.conftest import free_port

VENV_BIN = Path(sys.executable).parent


@dataclass
class AppServer:
    """A running app server process."""

    kind: str
    base_url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_text(self) -> str:
        """What the server printed so far (for failure messages)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        """TERM, wait up to ``timeout``, then KILL; only this process group."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def server_command(kind: str, port: int) -> list[str]:
    """The production command line of each app (same config files as the stack script)."""
    bind = f"127.0.0.1:{port}"
    if kind == "quart":
        return [str(VENV_BIN / "hypercorn"), "--config", str(REPO_ROOT / "deploy/hypercorn.toml"),
                "--bind", bind, "quart_app:create_app()"]
    if kind == "flask":
        return [str(VENV_BIN / "gunicorn"), "-c", str(REPO_ROOT / "deploy/gunicorn.conf.py"),
                "--bind", bind, "--workers", "2", "--threads", "16", "legacy_flask:create_app()"]
    raise ValueError(kind)


def start_app_server(kind: str, env: dict[str, str], log_dir: Path,
                     ready_timeout: float = 40.0) -> AppServer:
    """Start ``kind`` ("quart" or "flask") with ``env`` added, and wait until it answers."""
    port = free_port()
    log_path = log_dir / f"{kind}-{port}.log"
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    full_env.setdefault("XIANXIA_RUNTIME_DIR", str(log_dir))
    with log_path.open("wb") as log:
        proc = subprocess.Popen(server_command(kind, port), cwd=REPO_ROOT, env=full_env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = AppServer(kind, f"http://127.0.0.1:{port}", proc, log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} exited with {proc.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(server.base_url + "/readyz", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{kind} not ready in {ready_timeout}s:\n{server.log_text()}")
