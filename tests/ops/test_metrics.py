"""shared.metrics: what /metrics shows, bounded labels, and gunicorn's multiprocess merge.

In-process tests use a fresh registry each (``fresh`` fixture). The multiprocess tests run
real processes: plain Python writers, and a real gunicorn with deploy/gunicorn.conf.py serving
the tiny WSGI app below, so the per-run folder, the merge across workers and ``child_exit``
are all exercised.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared import metrics
from shared.config import REPO_ROOT
from tests.conftest import free_port
from tests.ops.test_support import kill_group_if_alive, wait_until


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse an exposition into {(sample name, sorted labels): value}."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(body: bytes, name: str, **labels: str) -> float:
    """One sample's value (0.0 when absent)."""
    return samples(body).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new, empty, single-process registry for this test."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(metrics, "_built", None)
    monkeypatch.setattr(metrics, "_seen", {})


def test_render_shows_every_family(fresh: None) -> None:
    metrics.observe_request("/api/players/<player_id>/actions", "post", 200, 0.02)
    metrics.observe_request("/api/players/<player_id>/actions", "POST", 200, 0.2)
    metrics.observe_request("/api/players/<player_id>/actions", "POST", 422, 0.01)
    metrics.observe_llm_call("ok", 1, 1.5)
    metrics.observe_llm_call("429", 3, 4.0)
    metrics.set_breaker_state("open")
    metrics.inc_degraded("circuit_open")
    body, ctype = metrics.render()
    assert ctype.startswith("text/plain")
    rule = "/api/players/<player_id>/actions"
    assert value(body, "xianxia_http_requests_total", route=rule, method="POST",
                 status="200") == 2
    assert value(body, "xianxia_http_requests_total", route=rule, method="POST",
                 status="422") == 1
    assert value(body, "xianxia_http_request_duration_seconds_count", route=rule,
                 method="POST") == 3
    assert value(body, "xianxia_http_request_duration_seconds_bucket", route=rule,
                 method="POST", le="0.025") == 2
    assert value(body, "xianxia_llm_calls_total", outcome="ok", attempts="1") == 1
    assert value(body, "xianxia_llm_calls_total", outcome="429", attempts="3") == 1
    assert value(body, "xianxia_llm_call_duration_seconds_sum", outcome="429") == 4.0
    assert value(body, "xianxia_llm_breaker_state", state="open") == 1
    assert value(body, "xianxia_llm_breaker_state", state="closed") == 0
    assert value(body, "xianxia_narrations_degraded_total", reason="circuit_open") == 1


def test_garbage_collections_are_timed_by_generation(fresh: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Collections are counted where the collector cannot deadlock (the callback only
    queues them), and show up on the next request or scrape."""
    monkeypatch.setattr(metrics, "_gc_done", metrics.deque())
    before = list(gc.callbacks)
    try:
        metrics.watch_gc()
        metrics.watch_gc()  # once per process
        assert gc.callbacks.count(metrics._on_gc) == 1
        gc.collect()  # a full collection: generation 2
        gc.collect(0)
        body, _ = metrics.render()
    finally:
        gc.callbacks[:] = before
    assert value(body, "xianxia_gc_collections_total", generation="2") >= 1
    assert value(body, "xianxia_gc_collections_total", generation="0") >= 1
    assert value(body, "xianxia_gc_seconds_total", generation="2") > 0
    assert ("xianxia_gc_seconds_total", (("generation", "1"),)) in samples(body)  # at 0


def test_breaker_state_moves(fresh: None) -> None:
    for state in ("closed", "open", "half_open", "closed"):
        metrics.set_breaker_state(state)
    body, _ = metrics.render()
    assert [value(body, "xianxia_llm_breaker_state", state=s)
            for s in ("closed", "open", "half_open")] == [1, 0, 0]
    metrics.set_breaker_state("melted")
    body, _ = metrics.render()
    assert value(body, "xianxia_llm_breaker_state", state="other") == 1
    assert value(body, "xianxia_llm_breaker_state", state="closed") == 0


def test_in_flight_gauge_and_context_manager(fresh: None) -> None:
    metrics.llm_in_flight.inc()
    with metrics.track_llm_in_flight():
        assert value(metrics.render()[0], "xianxia_llm_in_flight") == 2
    with pytest.raises(RuntimeError), metrics.track_llm_in_flight():
        raise RuntimeError("upstream blew up")
    metrics.llm_in_flight.dec()
    assert value(metrics.render()[0], "xianxia_llm_in_flight") == 0


def test_labels_stay_bounded(fresh: None) -> None:
    metrics.observe_request(None, "BREW", 404, 0.001)
    metrics.observe_request("/x", "get", 999, 0.001)
    metrics.observe_llm_call("ok", 9, 0.1)
    for i in range(metrics.MAX_LABEL_VALUES + 20):
        metrics.observe_request(f"/raw/path/{i}", "GET", 200, 0.001)
    body, _ = metrics.render()
    assert value(body, "xianxia_http_requests_total", route="unmatched", method="other",
                 status="404") == 1
    assert value(body, "xianxia_http_requests_total", route="/x", method="GET",
                 status="other") == 1
    assert value(body, "xianxia_llm_calls_total", outcome="ok", attempts="4+") == 1
    routes = {dict(labels)["route"] for (name, labels) in samples(body)
              if name == "xianxia_http_requests_total"}
    assert len(routes) <= metrics.MAX_LABEL_VALUES + 1
    assert "other" in routes


def test_import_builds_nothing() -> None:
    code = ("import sys, shared.metrics as m; "
            "assert m._built is None; assert 'prometheus_client' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.stdout.strip() == "ok", out.stderr


# --- multiprocess -----------------------------------------------------------------------------

WRITER = """
import os, sys
from shared import metrics
n = int(sys.argv[1])
for _ in range(n):
    metrics.observe_request("/api/players", "POST", 201, 0.01)
metrics.observe_llm_call("ok", 1, 2.0)
metrics.llm_in_flight.inc()          # left in flight: this process "dies" with a call open
metrics.set_breaker_state(sys.argv[2])
print(os.getpid())
"""

READER = """
import sys
from prometheus_client import multiprocess
from shared import metrics
for pid in sys.argv[1:]:
    multiprocess.mark_process_dead(int(pid))
sys.stdout.write(metrics.render()[0].decode())
"""


def _py(code: str, env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_multiprocess_merges_processes(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    pid_a = _py(WRITER, env, "3", "closed").strip()
    pid_b = _py(WRITER, env, "4", "open").strip()
    assert pid_a != pid_b
    merged = _py(READER, env).encode()
    assert value(merged, "xianxia_http_requests_total", route="/api/players", method="POST",
                 status="201") == 7
    assert value(merged, "xianxia_http_request_duration_seconds_count",
                 route="/api/players", method="POST") == 7
    assert value(merged, "xianxia_llm_calls_total", outcome="ok", attempts="1") == 2
    assert value(merged, "xianxia_llm_in_flight") == 2
    assert value(merged, "xianxia_llm_breaker_state", state="open") == 1
    assert value(merged, "xianxia_llm_breaker_state", state="closed") == 1
    # A dead process's live gauges go; its counters stay (they were really served).
    after = _py(READER, env, pid_b).encode()
    assert value(after, "xianxia_llm_in_flight") == 1
    assert value(after, "xianxia_llm_breaker_state", state="open") == 0
    assert value(after, "xianxia_http_requests_total", route="/api/players", method="POST",
                 status="201") == 7


def metrics_standin_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A WSGI app gunicorn serves in the test below: each request is recorded, /metrics renders."""
    path = environ.get("PATH_INFO", "")
    if path == "/metrics":
        body, ctype = metrics.render()
        start_response("200 OK", [("Content-Type", ctype)])
        return [body]
    if path == "/inflight":
        metrics.llm_in_flight.inc()  # a call that never ends in this worker
    time.sleep(0.3)  # slow enough that concurrent requests need both workers
    metrics.observe_request("/work", environ["REQUEST_METHOD"], 200, 0.3)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"pid": os.getpid()}).encode()]


@pytest.fixture
def gunicorn_standin() -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """gunicorn -c deploy/gunicorn.conf.py, 2 workers x 1 thread, on a free port."""
    runtime = Path(tempfile.mkdtemp(prefix="xianxia-metrics-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["XIANXIA_RUNTIME_DIR"] = str(runtime)
    log = (runtime / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"),
         "-c", str(REPO_ROOT / "deploy/gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "1",
         "tests.ops.test_metrics:metrics_standin_app"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            try:
                return httpx.get(base + "/metrics", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(up, 30, 0.2), (runtime / "gunicorn.log").read_text()
        yield base, proc, runtime
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                kill_group_if_alive(proc.pid)
                proc.wait(5)
        log.close()
        shutil.rmtree(runtime, ignore_errors=True)


def _fan_out(url: str, n: int) -> set[int]:
    """n concurrent fresh-connection GETs; the worker pids that answered."""
    def one(_: int) -> int:
        r = httpx.get(url, timeout=10, headers={"Connection": "close"})
        assert r.status_code == 200
        return int(r.json()["pid"])

    with ThreadPoolExecutor(n) as pool:
        return set(pool.map(one, range(n)))


@pytest.mark.slow
def test_gunicorn_workers_are_merged(gunicorn_standin: tuple[str, Any, Path]) -> None:
    base, proc, runtime = gunicorn_standin
    folders = list(runtime.glob("prometheus-flask-*"))
    assert len(folders) == 1, "gunicorn.conf.py makes one metrics folder per run"

    # Rounds of 4 concurrent requests until both workers have answered: the second may still
    # be booting when the first answers, and a gthread worker queues what it accepts, so one
    # worker can take a whole round (a CI run saw 8 requests go to one).
    pids: set[int] = set()
    sent = 0

    def both_served() -> bool:
        nonlocal sent
        pids.update(_fan_out(base + "/work", 4))
        sent += 4
        return len(pids) == 2

    assert wait_until(both_served, 30, 0), f"both workers should have served: {pids}"
    # Whichever worker answers /metrics, it counts what both served.
    for _ in range(4):
        body = httpx.get(base + "/metrics", timeout=5).content
        assert value(body, "xianxia_http_requests_total", route="/work", method="GET",
                     status="200") == sent

    # Every worker takes "LLM calls" that never finish; count them per worker.
    held: dict[int, int] = {}

    def both_hold() -> bool:
        with ThreadPoolExecutor(2) as pool:
            for pid in pool.map(lambda _: httpx.get(base + "/inflight", timeout=10, headers={
                    "Connection": "close"}).json()["pid"], range(2)):
                held[pid] = held.get(pid, 0) + 1
        return len(held) == 2

    assert wait_until(both_hold, 20, 0)
    body = httpx.get(base + "/metrics", timeout=5).content
    assert value(body, "xianxia_llm_in_flight") == sum(held.values())

    # A worker dies with its calls open: child_exit drops its live gauge, its counts stay.
    victim = min(held)
    os.kill(victim, signal.SIGKILL)

    def victim_dropped() -> bool:
        b = httpx.get(base + "/metrics", timeout=5).content
        return value(b, "xianxia_llm_in_flight") == sum(held.values()) - held[victim]

    assert wait_until(victim_dropped, 20, 0.2)
    body = httpx.get(base + "/metrics", timeout=5).content
    assert value(body, "xianxia_http_requests_total", route="/work", method="GET",
                 status="200") == sent + sum(held.values())
    assert proc.poll() is None

    # On exit the per-run folder this config created is removed.
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)
    assert not folders[0].exists()
