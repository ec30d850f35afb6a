"""Pytest fixtures for the fake DeepSeek server (``devtools.fake_deepseek``, started and
stopped by ``devtools.procs``).

``fake_deepseek`` (session scope) runs one fake in a subprocess on a free 127.0.0.1 port
for the whole session and stops it by PID at the end. ``fake`` (function scope) is the same
server, reset before and after the test. Typical use::

    def test_something(fake):
        fake.configure(latency=0.2, faults=["500"])     # next request gets a 500
        settings = fake.settings(llm_max_retries=1)      # Settings pointing at the fake
        ...
        assert fake.stats()["chat"] == 2

See ``devtools/fake_deepseek.py`` for every setting and fault kind.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.procs import FakeDeepSeek, start_fake


@pytest.fixture(scope="session")
def fake_deepseek(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeDeepSeek]:
    """One fake DeepSeek for the session (configure it; ``fake`` resets it per test)."""
    server = start_fake(tmp_path_factory.mktemp("fake_deepseek"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake(fake_deepseek: FakeDeepSeek) -> Iterator[FakeDeepSeek]:
    """The session's fake DeepSeek, reset before and after this test."""
    fake_deepseek.reset()
    yield fake_deepseek
    fake_deepseek.reset()
