"""The whole stack for real: scripts/stack.sh starts HAProxy, quart_app on hypercorn and
legacy_flask on gunicorn (shared SQLite file, free ports), and scripts/toggle_async.sh switches
between them while players keep playing through HAProxy.

What must hold: no failed request while switching, for clients that never retry, kept-alive
or not (20 switches with canaries, both directions); every action applied exactly once (turn
and version equal the number of 200 answers; log seq contiguous); each player's state
continuous from one app to the other; a switch to a stopped app refused while traffic flows; a
killed active app replaced by the backup with no client error beyond the requests in flight at
the kill; a hypercorn master killed alone leaves no process on its port; oversized request
lines and headers answered in JSON by both apps, directly and through HAProxy. Everything is
stopped by pid at the end.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.procs import FakeDeepSeek
from shared.config import REPO_ROOT
from tests.ops.test_metrics import samples
from tests.ops.test_support import OpsStack, pid_alive, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

PLAYERS = 12
# A simple player: cultivate; at the bottleneck try to break through; when beaten down, rest.
NEXT_AFTER_REFUSAL = {"qi_full": "breakthrough", "dead": "rest"}
LOAD_LIMIT_S = 90  # hard limit for any load phase, whatever happens


def apps_importable() -> None:
    """Fail (not skip) when the real apps cannot be built: they are part of this project."""
    code = "import quart_app, legacy_flask; quart_app.create_app(); legacy_flask.create_app()"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120, check=False)
    if out.returncode != 0:
        pytest.fail(f"the real apps do not build:\n{out.stderr[-3000:]}")


@pytest.fixture(scope="module")
def stack(fake_deepseek: FakeDeepSeek) -> Iterator[OpsStack]:
    """The real stack on free ports, narrated by the fake DeepSeek; stopped by pid at the end."""
    apps_importable()
    fake_deepseek.reset()
    fake_deepseek.configure(latency=0.05)  # a quick "LLM": the switch, not the model, is tested
    ops = OpsStack.create(
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="16",
        ACTION_RATE_PER_MINUTE="1000000",
        LB_CREATE_RATE="1000000",  # the tests create many players from one address
        CREATE_RATE_PER_MINUTE="1000000",
        # Budgets off: thousands of narrated actions a minute would spend the default global
        # minute budget and send the narrator offline (the switch, not the budgets, is tested).
        LLM_PLAYER_DAILY_TOKENS="0",
        LLM_GLOBAL_MINUTE_TOKENS="0",
        LLM_GLOBAL_DAILY_TOKENS="0",
        START_TIMEOUT="150",
        VERIFY_REQUESTS="4",
        DEEPSEEK_BASE_URL=fake_deepseek.base_url,
        DEEPSEEK_API_KEY=fake_deepseek.api_key,
    )
    try:
        started = ops.stack("start", timeout=400)
        assert started.returncode == 0, started.stderr + "\n" + logs_tail(ops)
        yield ops
    finally:
        ops.teardown()
        fake_deepseek.reset()


def logs_tail(ops: OpsStack, n: int = 3000) -> str:
    """The end of every log of the stack (for failure messages)."""
    parts = []
    for path in sorted((ops.runtime / "logs").glob("*.log")):
        parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-n:]}")
    return "\n".join(parts)


# --- players under load -----------------------------------------------------------------------


@dataclass
class Player:
    """One player's view of the game, as its client saw it."""

    id: str
    token: str
    version0: int
    keepalive: bool
    ok: int = 0
    refused: int = 0
    degraded: int = 0
    apps: Counter[str] = field(default_factory=Counter)
    versions: list[int] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)


@dataclass
class Failure:
    """A request the client could not get a good answer for."""

    at: float
    what: str


class _Threads:
    """What both loads share: player threads started behind a barrier (each creates its
    player first), failures recorded under a lock, and a bounded stop."""

    stop: threading.Event
    failures: list[Failure]
    _lock: threading.Lock
    _threads: list[threading.Thread]

    def _run(self, index: int, ready: threading.Barrier) -> None:
        raise NotImplementedError

    def _start_threads(self, n: int) -> None:
        ready = threading.Barrier(n + 1)
        for i in range(n):
            t = threading.Thread(target=self._run, args=(i, ready), daemon=True)
            t.start()
            self._threads.append(t)
        ready.wait(timeout=60)

    def finish(self) -> None:
        """Stop and wait (bounded)."""
        self.stop.set()
        for t in self._threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in self._threads), "a load thread hung"

    def _fail(self, what: str) -> None:
        with self._lock:
            self.failures.append(Failure(time.monotonic(), what))


@dataclass
class Load(_Threads):
    """PLAYERS threads, each creating a player then acting until told to stop.

    Even-numbered players keep their connection to HAProxy alive, odd-numbered players open a
    new connection per request; none sends anything twice. With ``retry_failures`` every
    failure is retried with the same Idempotency-Key.
    """

    base: str
    retry_failures: bool = False
    players: list[Player] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    in_flight: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        """Create the players (through HAProxy), then start acting."""
        self._start_threads(PLAYERS)
        return self

    def _run(self, index: int, ready: threading.Barrier) -> None:
        deadline = time.monotonic() + LOAD_LIMIT_S
        keepalive = index % 2 == 0
        headers = {} if keepalive else {"Connection": "close"}
        limits = httpx.Limits(max_keepalive_connections=1 if keepalive else 0)
        with httpx.Client(base_url=self.base, timeout=30, headers=headers,
                          limits=limits) as client:
            try:
                r = client.post("/api/players", json={"name": f"道友{index}"})
            except httpx.HTTPError as exc:
                self._fail(f"create: {type(exc).__name__}: {exc}")
                ready.wait(timeout=60)
                return
            if r.status_code != 201:
                self._fail(f"create {r.status_code} {r.text[:200]}")
                ready.wait(timeout=60)
                return
            body = r.json()
            player = Player(body["player"]["id"], body["token"], body["version"], keepalive)
            with self._lock:
                self.players.append(player)
            ready.wait(timeout=60)
            kind = "cultivate"
            while not self.stop.is_set() and time.monotonic() < deadline:
                refusal = self._act(client, player, kind)
                kind = NEXT_AFTER_REFUSAL.get(refusal or "", "cultivate")

    def _act(self, client: httpx.Client, player: Player, kind: str) -> str | None:
        """One action until it gets an answer; returns the refusal code of a 422, if any."""
        key = uuid.uuid4().hex
        headers = {"Authorization": f"Bearer {player.token}", "Idempotency-Key": key}
        for _attempt in range(20):
            with self._lock:
                self.in_flight += 1
            r: httpx.Response | None = None
            try:
                r = client.post(f"/api/players/{player.id}/actions", json={"type": kind},
                                headers=headers)
            except httpx.HTTPError as exc:
                self._fail(f"{type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    self.in_flight -= 1
            if r is not None and r.status_code == 200:
                body = r.json()
                player.ok += 1
                player.apps[r.headers.get("X-App", "?")] += 1
                player.versions.append(body["version"])
                player.turns.append(body["player"]["turn"])
                narration = body.get("narration") or {}
                player.degraded += bool(narration.get("degraded"))
                return None
            if r is not None and r.status_code == 422:
                player.refused += 1
                return str(r.json()["error"]["code"])
            if r is not None:
                self._fail(f"{r.status_code} {r.headers.get('X-App')} {r.text[:200]}")
            if not self.retry_failures or self.stop.is_set():
                return None
            time.sleep(0.05)  # same Idempotency-Key: applied at most once whatever happened
        return None


def check_exactly_once(base: str, players: list[Player]) -> None:
    """Each player's stored turn/version/log match exactly the 200 answers it got."""
    with httpx.Client(base_url=base, timeout=30) as client:
        for p in players:
            auth = {"Authorization": f"Bearer {p.token}"}
            r = client.get(f"/api/players/{p.id}", headers=auth)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["player"]["turn"] == p.ok, (p.id, body["player"]["turn"], p.ok)
            assert body["version"] == p.version0 + p.ok
            # Continuity: every answer continued exactly where the previous one left off,
            # whichever app gave it.
            assert p.versions == list(range(p.version0 + 1, p.version0 + p.ok + 1))
            assert p.turns == list(range(1, p.ok + 1))
            seqs: list[int] = []
            before: int | None = None
            while True:
                params: dict[str, Any] = {"limit": 100}
                if before is not None:
                    params["before"] = before
                page = client.get(f"/api/players/{p.id}/log", headers=auth, params=params)
                assert page.status_code == 200, page.text
                data = page.json()
                seqs += [e["seq"] for e in data["entries"]]
                before = data.get("next_before")
                if before is None:
                    break
            assert sorted(seqs) == list(range(min(seqs), min(seqs) + p.ok + 1)), "log gaps"
            assert len(seqs) == len(set(seqs)) == p.ok + 1  # the creation + each action


def app_metrics(ops: OpsStack, port: int) -> dict[str, float]:
    """200 answers to the action route as the app's own /metrics counts them."""
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).content
    total = 0.0
    for (name, labels), value in samples(body).items():
        d = dict(labels)
        if (name == "xianxia_http_requests_total" and d.get("route", "").endswith("/actions")
                and d.get("status") == "200" and d.get("method") == "POST"):
            total += value
    return {"actions_200": total}


def toggle_ok(ops: OpsStack, *args: str) -> float:
    """Run the toggle, require success; returns how long it took (seconds)."""
    started = time.monotonic()
    r = ops.toggle(*args, timeout=120)
    assert r.returncode == 0, f"toggle {args}: {r.stderr}\n{logs_tail(ops, 1500)}"
    return time.monotonic() - started


# --- tests ------------------------------------------------------------------------------------


def test_toggling_under_load_loses_nothing(stack: OpsStack) -> None:
    toggle_ok(stack, "sync")
    flask_before = app_metrics(stack, stack.flask_port)["actions_200"]
    quart_before = app_metrics(stack, stack.quart_port)["actions_200"]
    load = Load(stack.lb_url).start()
    plan = ["async", "sync", "canary", "async", "sync", "async", "canary", "sync", "async",
            "sync", "async", "sync"]
    took: list[float] = []
    try:
        time.sleep(1.0)
        for step in plan:
            took.append(toggle_ok(stack, *(("canary", "50") if step == "canary" else (step,))))
            time.sleep(1.0)
    finally:
        load.finish()

    assert len(took) >= 10
    print(f"switches: {len(took)}, seconds each: max {max(took):.2f}, "
          f"mean {sum(took) / len(took):.2f}")
    assert load.failures == [], load.failures[:10]
    assert len(load.players) == PLAYERS
    total = sum(p.ok for p in load.players)
    served = Counter[str]()
    for p in load.players:
        served.update(p.apps)
    assert total > 200, f"too little load to mean anything: {total}"
    # Narrated by the (fake) LLM through both apps, not by the offline fallback.
    assert sum(p.degraded for p in load.players) == 0
    print(f"actions: {total} ok, served by {dict(served)}")
    assert served["quart"] > 0 and served["flask"] > 0, served
    assert sum(1 for p in load.players if len(p.apps) == 2) == PLAYERS, "every player moved"
    check_exactly_once(stack.lb_url, load.players)

    # /metrics of each app counts exactly the actions it served (gunicorn's 2 workers merged).
    flask_after = app_metrics(stack, stack.flask_port)["actions_200"]
    quart_after = app_metrics(stack, stack.quart_port)["actions_200"]
    assert flask_after - flask_before == served["flask"]
    assert quart_after - quart_before == served["quart"]

    log_lines = stack.toggle_log.read_text().splitlines()
    assert sum(" result=ok " in line for line in log_lines) >= 10
    access = (stack.runtime / "logs" / "haproxy.log")
    assert wait_until(lambda: " app=quart " in access.read_text(errors="replace"), 5)


def test_switch_to_a_stopped_app_is_refused_while_traffic_flows(stack: OpsStack) -> None:
    toggle_ok(stack, "sync")
    load = Load(stack.lb_url).start()
    try:
        stopped = stack.stack("stop", "quart", timeout=150)
        assert stopped.returncode == 0, stopped.stderr
        assert "quart:      stopped" in stack.stack("status").stdout
        r = stack.toggle("async", timeout=60)
        assert r.returncode == 1
        assert "refused: target unhealthy" in r.stderr and "does not answer" in r.stderr
        r = stack.toggle("canary", "10", timeout=60)
        assert r.returncode == 1
        assert "active=flask canary=0" in stack.lb_state()
        time.sleep(1.0)
        restarted = stack.stack("start", "quart", timeout=200)
        assert restarted.returncode == 0, restarted.stderr
        toggle_ok(stack, "async")
        time.sleep(1.0)
    finally:
        load.finish()
    assert load.failures == [], load.failures[:10]
    check_exactly_once(stack.lb_url, load.players)


def test_killed_active_app_fails_over_to_the_backup(stack: OpsStack) -> None:
    if not pid_alive(stack.pids().get("quart", -1)):
        assert stack.stack("start", "quart", timeout=200).returncode == 0
    toggle_ok(stack, "async")
    load = Load(stack.lb_url, retry_failures=True).start()
    try:
        time.sleep(2.0)
        victim = stack.pids()["quart"]
        in_flight_at_kill = load.in_flight
        os.killpg(victim, signal.SIGKILL)  # the process group stack.sh made for this pid
        killed_at = time.monotonic()
        assert wait_until(lambda: not pid_alive(victim), 10)
        time.sleep(4.0)
        # No switch happened: the backup took over by itself.
        assert "active=quart" in stack.lb_state()
        # Already async, but quart is down: not "nothing to do", a warning and exit 1.
        r = stack.toggle("async", timeout=60)
        assert r.returncode == 1 and "WARNING: already async, but the target is down" in r.stderr
        status = stack.toggle("status", timeout=60)
        assert status.returncode == 1 and "quart:      UNHEALTHY" in status.stdout
        r = stack.toggle("canary", "20", timeout=60)
        assert r.returncode == 1 and "refused" in r.stderr
    finally:
        load.finish()

    print(f"kill: {in_flight_at_kill} requests in flight, {len(load.failures)} failed attempts "
          f"(all resent with their Idempotency-Key)")
    late = [f for f in load.failures if f.at > killed_at + 2.0]
    assert late == [], late[:10]
    # Only requests that were in flight at the kill (at most one per player) may have failed.
    assert len(load.failures) <= max(in_flight_at_kill, PLAYERS), load.failures
    served_after = Counter[str]()
    for p in load.players:
        served_after.update(p.apps)
    assert served_after["flask"] > 0
    # Retried with the same Idempotency-Key: still applied exactly once each.
    check_exactly_once(stack.lb_url, load.players)

    assert stack.stack("start", "quart", timeout=200).returncode == 0
    toggle_ok(stack, "async")


@dataclass
class PlainLoad(_Threads):
    """PLAIN_PLAYERS threads, each one player on ONE HTTP/1.1 keep-alive connection
    (http.client, the standard library's plain client) that never sends anything twice: any
    exception, any status but 200/422, and any connection that had to be opened again counts."""

    port: int
    players: list[Player] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    reconnects: int = 0
    requests: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, n: int) -> PlainLoad:
        """Create ``n`` players, then act until ``finish``."""
        self._start_threads(n)
        return self

    def _request(self, conn: http.client.HTTPConnection, path: str, body: dict[str, Any],
                 headers: dict[str, str]) -> tuple[int, dict[str, Any], str]:
        conn.request("POST", path, body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json", **headers})
        r = conn.getresponse()
        data = r.read()
        with self._lock:
            self.requests += 1
        return r.status, json.loads(data) if data else {}, r.getheader("X-App") or "?"

    def _run(self, index: int, ready: threading.Barrier) -> None:
        deadline = time.monotonic() + LOAD_LIMIT_S
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            try:
                status, body, _ = self._request(conn, "/api/players", {"name": f"散修{index}"}, {})
            except (OSError, http.client.HTTPException) as exc:
                self._fail(f"create: {type(exc).__name__}: {exc}")
                return
            finally:
                ready.wait(timeout=60)
            if status != 201:
                self._fail(f"create {status} {body}")
                return
            player = Player(body["player"]["id"], body["token"], body["version"], True)
            with self._lock:
                self.players.append(player)
            sock = conn.sock
            kind = "cultivate"
            while not self.stop.is_set() and time.monotonic() < deadline:
                headers = {"Authorization": f"Bearer {player.token}",
                           "Idempotency-Key": uuid.uuid4().hex}
                try:
                    status, body, app = self._request(
                        conn, f"/api/players/{player.id}/actions", {"type": kind}, headers)
                except (OSError, http.client.HTTPException) as exc:
                    self._fail(f"{type(exc).__name__}: {exc}")  # never sent again
                    return
                if conn.sock is not sock:  # http.client reopened it: the LB had closed it
                    with self._lock:
                        self.reconnects += 1
                    sock = conn.sock
                if status == 200:
                    player.ok += 1
                    player.apps[app] += 1
                    player.versions.append(body["version"])
                    player.turns.append(body["player"]["turn"])
                    kind = "cultivate"
                elif status == 422:
                    player.refused += 1
                    kind = NEXT_AFTER_REFUSAL.get(body["error"]["code"], "cultivate")
                else:
                    self._fail(f"{status} {app} {str(body)[:200]}")
                    return
        finally:
            conn.close()


PLAIN_PLAYERS = 8
# 20 switches: every direction between the three modes, canaries included.
TWENTY_SWITCHES = [("async",), ("canary", "30"), ("sync",), ("async",), ("sync",)] * 4


def test_twenty_switches_fail_nothing_for_a_plain_keepalive_client(stack: OpsStack) -> None:
    """Issue 12.3: 0 failed requests, 0 reopened connections, every action applied once."""
    toggle_ok(stack, "sync")
    load = PlainLoad(stack.lb_port).start(PLAIN_PLAYERS)
    took: list[float] = []
    started = time.monotonic()
    try:
        time.sleep(0.5)
        for step in TWENTY_SWITCHES:
            took.append(toggle_ok(stack, *step))
            time.sleep(0.3)
    finally:
        load.finish()
    elapsed = time.monotonic() - started
    total = sum(p.ok for p in load.players)
    served = Counter[str]()
    for p in load.players:
        served.update(p.apps)
    print(f"plain keep-alive clients: {len(took)} switches in {elapsed:.1f} s, "
          f"{load.requests} requests ({total} actions applied, "
          f"{sum(p.refused for p in load.players)} refused by the rules), "
          f"{len(load.failures)} failed, {load.reconnects} reconnects, served {dict(served)}")
    assert len(took) == 20
    assert load.failures == [], load.failures[:10]
    assert load.reconnects == 0
    assert len(load.players) == PLAIN_PLAYERS
    assert total > 200, f"too little load to mean anything: {total}"
    assert served["quart"] > 0 and served["flask"] > 0, served
    assert all(len(p.apps) == 2 for p in load.players), "every player moved between the apps"
    check_exactly_once(stack.lb_url, load.players)


def test_narration_stream_in_flight_finishes_on_the_app_that_began_it(
        stack: OpsStack, fake_deepseek: FakeDeepSeek) -> None:
    """Issue 12.3: an SSE narration that began on flask ends there, whole, across a switch."""
    toggle_ok(stack, "sync")
    with httpx.Client(base_url=stack.lb_url, timeout=30) as client:
        created = client.post("/api/players", json={"name": "听风"})
        assert created.status_code == 201, created.text
        pid, token = created.json()["player"]["id"], created.json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    events: list[str] = []
    app: list[str] = []

    def narrate() -> None:
        with httpx.stream("POST", f"{stack.lb_url}/api/players/{pid}/actions",
                          json={"type": "cultivate"}, timeout=60,
                          headers={**auth, "Accept": "text/event-stream",
                                   "Idempotency-Key": uuid.uuid4().hex}) as r:
            assert r.status_code == 200
            app.append(r.headers["X-App"])
            for line in r.iter_lines():
                if line.startswith("event: "):
                    events.append(line[7:])

    fake_deepseek.configure(chunk_delay=0.25)  # a narration of several seconds
    try:
        reader = threading.Thread(target=narrate)
        reader.start()
        assert wait_until(lambda: "delta" in events, 20), events
        toggle_ok(stack, "async")
        switched_during = "done" not in events
        reader.join(timeout=60)
    finally:
        fake_deepseek.configure(chunk_delay=0.0)
    assert switched_during, "the stream ended before the switch: nothing was tested"
    assert app == ["flask"]
    assert events[0] == "outcome" and events[-1] == "done" and events.count("delta") >= 2
    with httpx.Client(base_url=stack.lb_url, timeout=30) as client:
        r = client.get(f"/api/players/{pid}", headers=auth)
    assert r.headers["X-App"] == "quart" and r.json()["player"]["turn"] == 1


def _json_answer(r: httpx.Response, app: str) -> None:
    """The answer is the app's own, in JSON; an error is the envelope, never a 5xx."""
    assert r.headers.get("X-App") == app, (r.status_code, r.headers, r.text[:200])
    assert r.headers["content-type"].startswith("application/json"), r.text[:200]
    body = r.json()
    assert r.status_code < 500, body
    if r.status_code >= 400:
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])


@pytest.mark.parametrize("via", ["direct", "lb"])
def test_long_request_line_and_big_header_get_json(stack: OpsStack, via: str) -> None:
    """Issue 11.10: gunicorn's own HTML 414/431 are gone; the apps answer, in JSON."""
    long_path = "/api/players/" + "x" * 5000  # a request line of ~5 KB
    big_header = {"X-Padding": "y" * 9000}  # one 9 KB header
    for app, port, mode in (("flask", stack.flask_port, "sync"),
                            ("quart", stack.quart_port, "async")):
        if via == "lb":
            toggle_ok(stack, mode)
            base = stack.lb_url
        else:
            base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            _json_answer(client.get(long_path), app)
            _json_answer(client.get("/healthz", headers=big_header), app)
            _json_answer(client.get(long_path, headers=big_header), app)


def test_slow_clients_do_not_starve_gunicorn(stack: OpsStack) -> None:
    """Issue 11.14: 150 connections sending their headers a byte at a time hold HAProxy
    connections only; gunicorn's 32 threads keep serving a normal client."""
    toggle_ok(stack, "sync")
    slow: list[socket.socket] = []
    try:
        for _ in range(150):
            s = socket.create_connection(("127.0.0.1", stack.lb_port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: lb\r\n")
            slow.append(s)
        answered = 0
        deadline = time.monotonic() + 6
        with httpx.Client(base_url=stack.lb_url, timeout=5) as client:
            for _ in range(10):
                for s in slow:
                    with contextlib.suppress(OSError):
                        s.sendall(b"X")  # never finishes its headers
                r = client.get("/healthz")
                assert r.status_code == 200 and r.headers["X-App"] == "flask"
                answered += 1
                time.sleep(0.3)
        assert time.monotonic() < deadline
        assert answered == 10
    finally:
        for s in slow:
            s.close()


def _port_free(port: int) -> bool:
    """Nothing listens on ``port`` (connections in TIME_WAIT do not count, as for a server)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for stat in os.listdir("/proc"):
        if not stat.isdigit():
            continue
        try:
            with open(f"/proc/{stat}/stat") as f:
                fields = f.read().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat))
    return found


def test_killed_hypercorn_master_leaves_no_orphan(stack: OpsStack) -> None:
    """Issue 11.14: SIGKILL of hypercorn's pid alone (not its group) frees the port, and
    `stack.sh start quart` works again at once."""
    toggle_ok(stack, "sync")
    pid = stack.pids()["quart"]
    assert _children(pid) == []  # one process: hypercorn serves in its own (workers = 0)
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(pid), 10)
    assert wait_until(lambda: _port_free(stack.quart_port), 10), "something still holds the port"
    restarted = stack.stack("start", "quart", timeout=200)
    assert restarted.returncode == 0, restarted.stderr
    assert wait_until(lambda: stack.server_status("be_quart", "quart1") == "UP", 15)
    toggle_ok(stack, "async")


def test_several_hypercorn_workers_die_with_their_master_and_share_metrics(
        stack: OpsStack) -> None:
    """QUART_WORKERS=2: both workers serve one port, /metrics adds them up, and a SIGKILL of
    the master alone takes the workers with it (PR_SET_PDEATHSIG)."""
    ops = OpsStack.create(QUART_WORKERS="2", START_TIMEOUT="150")
    try:
        started = ops.stack("start", "quart", timeout=200)
        assert started.returncode == 0, started.stderr + logs_tail(ops)
        master = ops.pids()["quart"]

        def worker_pids() -> list[int]:  # not multiprocessing's resource tracker
            return [pid for pid in _children(master)
                    if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
        assert wait_until(lambda: len(worker_pids()) == 2, 30), _children(master)
        workers = worker_pids()
        n = 40
        for _ in range(n):  # a new connection each: the kernel spreads them over the workers
            r = httpx.get(f"http://127.0.0.1:{ops.quart_port}/api/players/nobody-{n}",
                          headers={"Connection": "close"}, timeout=10)
            assert r.status_code in (401, 404), r.text
        files = {p.name for p in (ops.runtime / "prometheus-quart").glob("*.db")}
        assert all(any(f"_{w}.db" in name for name in files) for w in workers), files

        def counted() -> float:
            body = httpx.get(f"http://127.0.0.1:{ops.quart_port}/metrics", timeout=10).content
            return sum(v for (name, labels), v in samples(body).items()
                       if name == "xianxia_http_requests_total"
                       and dict(labels).get("method") == "GET"
                       and dict(labels).get("status") in ("401", "404"))
        assert counted() == n and counted() == n  # whichever worker renders it

        os.kill(master, signal.SIGKILL)
        assert wait_until(lambda: not any(pid_alive(w) for w in workers), 10), "orphan worker"
        assert wait_until(lambda: _port_free(ops.quart_port), 10)
        again = ops.stack("start", "quart", timeout=200)
        assert again.returncode == 0, again.stderr
    finally:
        ops.teardown()


def test_stop_ends_everything_by_pid(stack: OpsStack) -> None:
    pids = stack.pids()
    assert {"quart", "flask", "haproxy"} <= set(pids), pids
    assert all(pid_alive(pid) for pid in pids.values())
    r = stack.stack("stop", timeout=300)
    assert r.returncode == 0, r.stderr
    assert not any(pid_alive(pid) for pid in pids.values())
    status = stack.stack("status")
    assert status.returncode == 1
    for name in ("quart", "flask", "haproxy"):
        assert f"{name + ':':<11} stopped" in status.stdout
    # The per-run metrics folder of gunicorn is gone with it.
    assert not list(stack.runtime.glob("prometheus-flask-*"))


def test_celery_worker_runs_only_in_celery_mode(redis_url: str) -> None:
    ops = OpsStack.create(REDIS_URL=redis_url)
    try:
        skipped = ops.stack("start", "celery", timeout=60)
        assert skipped.returncode == 0, skipped.stderr
        assert "celery: skipped" in skipped.stderr
        assert "celery" not in ops.pids()

        started = ops.stack("start", "celery", timeout=120, LLM_BACKEND="celery")
        assert started.returncode == 0, started.stderr
        pid = ops.pids()["celery"]
        assert wait_until(lambda: "ready" in (ops.runtime / "logs" / "celery.log").read_text(),
                          60, 0.3), logs_tail(ops)
        # The mode was saved with the stack: a later call from a plain shell sees it.
        status = ops.stack("status", "celery")
        assert f"celery:     running (pid {pid})" in status.stdout

        stopped = ops.stack("stop", "celery", timeout=150)
        assert stopped.returncode == 0, stopped.stderr
        assert not pid_alive(pid)
        assert "celery" not in ops.pids()
    finally:
        ops.teardown()
