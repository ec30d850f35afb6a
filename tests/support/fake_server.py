"""Fixtures for the fake DeepSeek server (``scripts/fake_deepseek.py``).

``fake_deepseek`` (session scope) runs one fake in a subprocess on a free 127.0.0.1 port
for the whole session and stops it by PID at the end. ``fake`` (function scope) is the same
server, reset before and after the test. Typical use::

    def test_something(fake):
        fake.configure(latency=0.2, faults=["500"])     # next request gets a 500
        settings = fake.settings(llm_max_retries=1)      # Settings pointing at the fake
        ...
        assert fake.stats()["chat"] == 2

See the fake's module docstring for every setting and fault kind.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.config import REPO_ROOT, Settings

SCRIPT = REPO_ROOT / "scripts" / "fake_deepseek.py"
FAKE_API_KEY = "sk-fake-test-key-0123456789"
START_TIMEOUT = 20.0
MAX_LIFETIME = 3600  # the fake exits on its own after this, even if nobody stops it


class FakeDeepSeek:
    """A handle on a running fake: its URL, and its control endpoints."""

    def __init__(self, base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.base_url = base_url
        self.process = process
        self.pid = process.pid
        self.log_path = log_path
        self.api_key = FAKE_API_KEY
        self._http: httpx.Client | None = None

    def _control(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        if self._http is None:  # one client: building one costs ~90 ms (SSL context)
            self._http = httpx.Client(base_url=self.base_url, timeout=10.0, trust_env=False)
        response = self._http.request(method, path, json=json)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings (``latency``, ``faults``, ``fault``, ``api_key``...); returns them."""
        return self._control("POST", "/_fake/config", settings)

    def reset(self) -> None:
        """Back to start-up settings, no queued faults, zero counts."""
        self._control("POST", "/_fake/reset")

    def stats(self) -> dict[str, Any]:
        """Request counts: ``requests``, ``chat``, ``streams``, ``faults``, ``statuses``..."""
        return self._control("GET", "/_fake/stats")

    def close(self) -> None:
        """Close the control connection (the server keeps running)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def settings(self, **overrides: Any) -> Settings:
        """Settings whose DeepSeek base URL and key point at this fake."""
        values: dict[str, Any] = {
            "deepseek_base_url": self.base_url,
            "deepseek_api_key": self.api_key,
        }
        values.update(overrides)
        return Settings(**values)


def start_fake(log_path: Path, *args: str) -> FakeDeepSeek:
    """Start the fake in a subprocess and wait for its READY line."""
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--host", "127.0.0.1", "--port", "0",
         "--max-seconds", str(MAX_LIFETIME), "--exit-with-parent", *args],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        for line in text.splitlines():
            if line.startswith("READY "):
                return FakeDeepSeek(line.split()[1], process, log_path)
        if process.poll() is not None:
            raise RuntimeError(f"fake DeepSeek exited with {process.returncode}:\n{text}")
        time.sleep(0.05)
    stop_fake(process)
    raise RuntimeError(f"fake DeepSeek not ready after {START_TIMEOUT}s")


def stop_fake(process: subprocess.Popen[bytes]) -> None:
    """Stop the fake by PID: SIGTERM, then SIGKILL if it does not exit in 5 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def fake_deepseek(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeDeepSeek]:
    """One fake DeepSeek for the session (configure it; ``fake`` resets it per test)."""
    log_path = tmp_path_factory.mktemp("fake_deepseek") / "server.log"
    server = start_fake(log_path)
    try:
        yield server
    finally:
        server.close()
        stop_fake(server.process)


@pytest.fixture
def fake(fake_deepseek: FakeDeepSeek) -> Iterator[FakeDeepSeek]:
    """The session's fake DeepSeek, reset before and after this test."""
    fake_deepseek.reset()
    yield fake_deepseek
    fake_deepseek.reset()
