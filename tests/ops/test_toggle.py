"""scripts/toggle_async.sh against real HAProxy and two stand-in apps (fast, no real apps).

Each test gets its own runtime folder, free ports, HAProxy started by ``scripts/stack.sh start
haproxy`` and stopped by pid at the end. The stand-ins (tests/ops/test_support.py) answer
/healthz, /readyz, HAProxy's checks, a slow event stream and anything else with ``X-App``
naming themselves.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import free_port
from tests.ops.test_support import OpsStack, StandIn, StandInPair, standin_stack, wait_until

pytestmark = [pytest.mark.services]


@pytest.fixture
def pair() -> Iterator[StandInPair]:
    """HAProxy in front of the two stand-ins; flask active at start (the stack's default)."""
    yield from standin_stack()


def served_apps(url: str, n: int) -> Counter[str]:
    """Which app answered each of ``n`` sequential GETs through HAProxy."""
    seen: Counter[str] = Counter()
    with httpx.Client(timeout=5) as client:
        for _ in range(n):
            r = client.get(url + "/whoami")
            assert r.status_code == 200, r.text
            seen[r.headers["X-App"]] += 1
    return seen


def unchanged(pair: StandInPair, before: bytes, generation: str) -> None:
    """The mode map and what HAProxy serves are exactly as before."""
    assert pair.stack.mode_map.read_bytes() == before
    assert f"generation={generation}" in pair.stack.lb_state()


def current_generation(pair: StandInPair) -> str:
    """The generation HAProxy serves now."""
    state = pair.stack.lb_state()
    return state.split("generation=")[1].split()[0]


def test_switch_both_ways_and_idempotent(pair: StandInPair) -> None:
    stack = pair.stack
    assert served_apps(stack.lb_url, 5) == {"flask": 5}

    r = stack.toggle("async")
    assert r.returncode == 0, r.stderr
    assert "active=quart canary=0" in stack.lb_state()
    assert served_apps(stack.lb_url, 10) == {"quart": 10}
    text = stack.mode_map.read_text()
    assert "backend be_quart\nactive quart\ncanary 0\n" in text
    # No reload and no new process: the same HAProxy serves, its map changed at run time.
    assert "be_quart" in stack.admin(f"show map {stack.mode_map}")

    generation = current_generation(pair)
    before = stack.mode_map.read_bytes()
    again = stack.toggle("async")
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stderr
    unchanged(pair, before, generation)

    back = stack.toggle("sync")
    assert back.returncode == 0, back.stderr
    assert served_apps(stack.lb_url, 10) == {"flask": 10}

    lines = stack.toggle_log.read_text().splitlines()
    results = [(line.split(" from=")[1].split()[0], line.split(" to=")[1].split()[0],
                line.split(" result=")[1].split()[0]) for line in lines]
    assert results == [("sync", "async", "ok"), ("async", "async", "noop"),
                       ("async", "sync", "ok")]


def test_env_var_form(pair: StandInPair) -> None:
    stack = pair.stack
    r = stack.toggle(ASYNC_MODE="1")
    assert r.returncode == 0, r.stderr
    assert served_apps(stack.lb_url, 4) == {"quart": 4}
    r = stack.toggle(ASYNC_MODE="0")
    assert r.returncode == 0, r.stderr
    assert served_apps(stack.lb_url, 4) == {"flask": 4}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("bogus",), {}, "unknown command: bogus"),
        ((), {}, "say async, sync"),
        (("canary",), {}, "canary needs one PERCENT"),
        (("canary", "101"), {}, "PERCENT must be a whole number"),
        (("canary", "ten"), {}, "PERCENT must be a whole number"),
        (("async", "now"), {}, "unexpected argument: now"),
        ((), {"ASYNC_MODE": "maybe"}, "ASYNC_MODE must be 1 or 0"),
        (("sync",), {"ASYNC_MODE": "1"}, "asks for async but the argument asks for sync"),
    ],
)
def test_bad_use_changes_nothing(pair: StandInPair, args: tuple[str, ...],
                                 env: dict[str, str], message: str) -> None:
    generation = current_generation(pair)
    before = pair.stack.mode_map.read_bytes()
    r = pair.stack.toggle(*args, **env)  # type: ignore[arg-type]  # env never holds 'timeout'
    assert r.returncode == 2
    assert message in r.stderr
    assert "usage" in r.stderr.lower() or "toggle_async.sh async" in r.stderr
    unchanged(pair, before, generation)
    assert not pair.stack.toggle_log.exists()


@pytest.mark.parametrize("sickness", ["stopped", "not_ready", "wrong_app", "healthz_503"])
def test_unhealthy_target_is_refused(pair: StandInPair, sickness: str) -> None:
    generation = current_generation(pair)
    before = pair.stack.mode_map.read_bytes()
    if sickness == "stopped":
        pair.quart.stop()
    elif sickness == "not_ready":
        pair.quart.ready = False
    elif sickness == "wrong_app":
        pair.quart.report_as = "flask"
    else:
        pair.quart.sick_after = 0

    r = pair.stack.toggle("async")
    assert r.returncode == 1
    assert "refused: target unhealthy" in r.stderr
    assert {"stopped": "does not answer", "not_ready": "not ready", "wrong_app": "app=flask",
            "healthz_503": "/healthz gave 503"}[sickness] in r.stderr
    unchanged(pair, before, generation)
    assert served_apps(pair.stack.lb_url, 3) == {"flask": 3}
    assert "result=refused" in pair.stack.toggle_log.read_text()
    # A canary needs both apps healthy too.
    r = pair.stack.toggle("canary", "10")
    assert r.returncode == 1
    unchanged(pair, before, generation)


def test_haproxy_down_is_refused(pair: StandInPair) -> None:
    stack = pair.stack
    before = stack.mode_map.read_bytes()
    stopped = stack.stack("stop", "haproxy")
    assert stopped.returncode == 0, stopped.stderr
    r = stack.toggle("async")
    assert r.returncode == 1
    assert "haproxy is not running" in r.stderr
    assert stack.mode_map.read_bytes() == before
    assert not (stack.runtime / "haproxy" / "mode.map.prev").exists()


def test_unwritable_config_is_refused(pair: StandInPair) -> None:
    stack = pair.stack
    generation = current_generation(pair)
    before = stack.mode_map.read_bytes()
    if os.geteuid() == 0:
        # root writes anywhere: run the toggle as an unprivileged user instead.
        r = stack.run("toggle_async.sh", "async", user="65534:65534")
    else:
        (stack.runtime / "haproxy").chmod(0o555)
        try:
            r = stack.toggle("async")
        finally:
            (stack.runtime / "haproxy").chmod(0o755)
    assert r.returncode == 1, r.stderr
    assert "is not writable" in r.stderr
    unchanged(pair, before, generation)


def test_dry_run_changes_nothing(pair: StandInPair) -> None:
    stack = pair.stack
    generation = current_generation(pair)
    before = stack.mode_map.read_bytes()
    r = stack.toggle("--dry-run", "canary", "30")
    assert r.returncode == 0, r.stderr
    assert "dry run: would switch from sync to canary-30%" in r.stderr
    assert "set weight be_canary/quart1 3\nset weight be_canary/flask1 7\n" in r.stdout
    assert f"set map {stack.mode_map} backend be_canary" in r.stdout
    unchanged(pair, before, generation)
    assert not stack.toggle_log.exists()
    assert not (stack.runtime / "haproxy" / "mode.map.prev").exists()
    # A dry run still checks health: an unhealthy target fails it.
    pair.quart.ready = False
    assert stack.toggle("--dry-run", "async").returncode == 1
    unchanged(pair, before, generation)


def test_canary_splits_by_weight_and_async_ends_it(pair: StandInPair) -> None:
    stack = pair.stack
    r = stack.toggle("canary", "30")
    assert r.returncode == 0, r.stderr
    # Weighted round robin, weights 3 and 7: any 100 consecutive picks hold 30 quart.
    seen = served_apps(stack.lb_url, 100)
    assert 25 <= seen["quart"] <= 35 and seen["quart"] + seen["flask"] == 100, seen
    status = stack.toggle("status")
    assert status.returncode == 0, status.stderr
    assert "canary: quart 30%, flask 70%" in status.stdout
    assert "quart:      healthy" in status.stdout and "flask:      healthy" in status.stdout

    assert stack.toggle("canary", "30").returncode == 0  # idempotent
    assert stack.toggle("async").returncode == 0
    assert served_apps(stack.lb_url, 20) == {"quart": 20}
    assert "backend be_quart" in stack.mode_map.read_text()
    # canary 0 and 100 are the plain modes.
    assert stack.toggle("canary", "0").returncode == 0
    assert served_apps(stack.lb_url, 5) == {"flask": 5}
    assert "mode:       sync" in stack.toggle("status").stdout


def test_rolls_back_when_target_turns_sick_after_its_check(pair: StandInPair) -> None:
    stack = pair.stack
    generation = current_generation(pair)
    before = stack.mode_map.read_bytes()
    # Healthy for the direct check (/healthz + /readyz), 503 for everything after it
    # (HAProxy's own checks included, so the verification may reach the backup instead).
    pair.quart.sick_after = 2
    r = stack.toggle("async")
    assert r.returncode == 1, r.stderr
    assert ("through HAProxy gave 503" in r.stderr
            or "reached 'flask' (X-App flask), expected quart" in r.stderr
            or "HAProxy's checks see quart server quart1 as 'DOWN" in r.stderr), r.stderr
    assert "rolled back to sync" in r.stderr or "refused" in r.stderr
    unchanged(pair, before, generation)
    assert served_apps(stack.lb_url, 5) == {"flask": 5}
    assert "result=rolled_back" in stack.toggle_log.read_text()


def test_rolls_back_when_target_dies_after_its_check(pair: StandInPair) -> None:
    stack = pair.stack
    generation = current_generation(pair)
    before = stack.mode_map.read_bytes()

    original = pair.quart.health_hit

    def die_after_check(path: str) -> bool:
        ok = original(path)
        if path == "/readyz":
            pair.quart.dead = True  # every later request on any connection is dropped
        return ok

    pair.quart.health_hit = die_after_check  # type: ignore[method-assign]
    r = stack.toggle("async")
    assert r.returncode == 1, r.stderr
    # The target took the connection and closed it unanswered (502), or HAProxy's checks had
    # already marked it down and the backup answered: either way the switch is undone.
    assert ("through HAProxy gave 502" in r.stderr
            or "reached 'flask' (X-App flask), expected quart" in r.stderr
            or "as 'DOWN" in r.stderr), r.stderr
    unchanged(pair, before, generation)


def test_dead_active_app_fails_over_to_backup_post_included(pair: StandInPair) -> None:
    stack = pair.stack
    assert stack.toggle("async").returncode == 0
    pair.quart.stop()
    with httpx.Client(timeout=5) as client:
        for i in range(5):
            r = client.post(stack.lb_url + "/api/players", json={"name": f"p{i}"})
            assert r.status_code == 200, r.text
            assert r.headers["X-App"] == "flask"
    assert len(pair.flask.posts) == 5
    assert pair.quart.posts == []


def test_sent_post_is_never_retried_on_the_backup(pair: StandInPair) -> None:
    """A POST the active app received but did not answer is not replayed elsewhere."""
    stack = pair.stack
    pair.flask.drop_posts = True
    r = httpx.post(stack.lb_url + "/api/players/p1/actions", json={"type": "rest"}, timeout=10)
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "service_unavailable"
    assert r.headers["Retry-After"] == "1"
    assert len(pair.flask.posts) == 1
    assert pair.quart.posts == []
    # HAProxy logged it as closed by the server before any answer (termination state SH).
    assert wait_until(lambda: " 502 " in (stack.runtime / "logs" / "haproxy.log").read_text(), 5)


def test_body_limit_matches_the_apps(pair: StandInPair) -> None:
    stack = pair.stack
    small = httpx.post(stack.lb_url + "/api/x", content=b"x" * 60_000, timeout=5)
    assert small.status_code == 200
    big = httpx.post(stack.lb_url + "/api/x", content=b"x" * 70_000, timeout=5)
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "payload_too_large"
    assert len(pair.flask.posts) == 1


def test_several_instances_per_app() -> None:
    """QUART_UPSTREAMS lists two quart instances: all get traffic, all must be healthy."""
    stack = OpsStack.create()
    second_port = free_port()
    stack.extra_env["QUART_UPSTREAMS"] = (
        f"127.0.0.1:{stack.quart_port} 127.0.0.1:{second_port}")
    quart_a = StandIn("quart", stack.quart_port).start()
    quart_b = StandIn("quart", second_port).start()
    flask = StandIn("flask", stack.flask_port).start()
    try:
        assert stack.stack("start", "haproxy").returncode == 0
        r = stack.toggle("canary", "50")
        assert r.returncode == 0, r.stderr
        seen = served_apps(stack.lb_url, 200)
        assert seen == {"quart": 100, "flask": 100}, seen  # 50% however many instances
        assert quart_a.health_hits > 0 and quart_b.health_hits > 0

        quart_b.ready = False
        r = stack.toggle("async")
        assert r.returncode == 1
        assert f"quart on 127.0.0.1:{second_port} is not ready" in r.stderr
        quart_b.ready = True
        assert wait_until(lambda: stack.server_status("be_quart", "quart2") == "UP", 10)
        assert stack.toggle("async").returncode == 0
        before = (quart_a.requests, quart_b.requests)
        assert served_apps(stack.lb_url, 20) == {"quart": 20}
        assert quart_a.requests - before[0] == 10 and quart_b.requests - before[1] == 10
        config = (stack.runtime / "haproxy" / "haproxy.cfg").read_text()
        assert f"server flask1 127.0.0.1:{stack.flask_port} backup track be_flask/flask1" in config
    finally:
        stack.teardown()
        for standin in (quart_a, quart_b, flask):
            standin.stop()


def test_reapplies_when_haproxy_does_not_serve_the_map(pair: StandInPair) -> None:
    """After e.g. a failed rollback the map file and HAProxy disagree: the same mode repairs it."""
    stack = pair.stack
    assert stack.toggle("async").returncode == 0
    served = current_generation(pair)
    # HAProxy's copy goes astray (as a hand-typed runtime command could do).
    assert stack.admin(f"set map {stack.mode_map} backend be_flask; "
                       f"set map {stack.mode_map} generation stale-1").strip() == ""
    assert served_apps(stack.lb_url, 2) == {"flask": 2}
    r = stack.toggle("async")
    assert r.returncode == 0, r.stderr
    assert "applying it again" in r.stderr
    now = current_generation(pair)
    assert now not in (served, "stale-1")
    assert f"generation {now}" in stack.mode_map.read_text()
    assert served_apps(stack.lb_url, 4) == {"quart": 4}


def test_already_active_but_down_warns_and_fails(pair: StandInPair) -> None:
    """`async` while quart is active but down is not "nothing to do": it exits 1 and says so."""
    stack = pair.stack
    assert stack.toggle("async").returncode == 0
    generation = current_generation(pair)
    before = stack.mode_map.read_bytes()
    pair.quart.stop()
    r = stack.toggle("async")
    assert r.returncode == 1, r.stderr
    assert "WARNING: already async, but the target is down" in r.stderr
    assert "does not answer" in r.stderr
    unchanged(pair, before, generation)
    assert "result=noop_target_down" in stack.toggle_log.read_text()
    # Healthy again: the same call is the quiet no-op it was.
    pair.quart.start()
    assert wait_until(lambda: stack.server_status("be_quart", "quart1") == "UP", 10)
    r = stack.toggle("async")
    assert r.returncode == 0, r.stderr
    assert "nothing to do" in r.stderr


def test_stream_in_flight_finishes_on_the_app_that_began_it(pair: StandInPair) -> None:
    """An event stream that began on flask ends on flask, whole, across a switch to quart."""
    stack = pair.stack
    pair.flask.stream_events, pair.flask.stream_gap = 8, 0.25  # ~2 s
    events: list[str] = []
    app: list[str] = []

    def read_stream() -> None:
        with httpx.stream("GET", stack.lb_url + "/stream", timeout=10) as r:
            app.append(r.headers["X-App"])
            for line in r.iter_lines():
                if line.startswith("data: "):
                    events.append(line[6:])

    reader = threading.Thread(target=read_stream)
    reader.start()
    assert wait_until(lambda: len(events) >= 2, 5)
    r = stack.toggle("async")
    assert r.returncode == 0, r.stderr
    assert served_apps(stack.lb_url, 3) == {"quart": 3}  # new requests: the new app
    assert len(events) < 8, "the switch came too late to mean anything"
    reader.join(timeout=10)
    assert app == ["flask"]
    assert events == [f"flask {i}" for i in range(8)]


def _raw_get(conn: socket.socket, path: str) -> tuple[int, dict[str, str], bytes]:
    """One GET on an open keep-alive connection (a plain HTTP/1.1 client, no retry)."""
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: lb\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, "the load balancer closed the connection"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = conn.recv(65536)
        assert chunk, "the load balancer closed the connection"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_one_keepalive_connection_lives_through_twenty_switches(pair: StandInPair) -> None:
    """The same TCP connection to HAProxy carries requests before and after each switch, and
    each request goes to the app active when it was sent."""
    stack = pair.stack
    with socket.create_connection(("127.0.0.1", stack.lb_port), timeout=10) as conn:
        for i in range(20):
            mode = "async" if i % 2 == 0 else "sync"
            r = stack.toggle(mode)
            assert r.returncode == 0, r.stderr
            status, headers, _ = _raw_get(conn, "/whoami")
            assert status == 200
            assert headers["x-app"] == ("quart" if mode == "async" else "flask")


@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "/%6Detrics", "//metrics",
                                  "/METRICS", "/metrics?format=text"])
def test_metrics_not_reachable_through_the_public_port(pair: StandInPair, path: str) -> None:
    before = (pair.quart.requests, pair.flask.requests)
    with httpx.Client(timeout=5) as client:
        r = client.get(pair.stack.lb_url + path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]["code"] == "not_found"
    assert (pair.quart.requests, pair.flask.requests) == before  # never reached an app
    # Directly on the app's own (loopback) port it is there.
    assert httpx.get(f"http://127.0.0.1:{pair.stack.flask_port}/metrics").status_code == 200


def test_player_creation_is_rate_limited_per_address() -> None:
    """A second line behind the apps' own limit: LB_CREATE_RATE creations a minute."""
    yield_stack = standin_stack(LB_CREATE_RATE="3")
    pair = next(yield_stack)
    try:
        with httpx.Client(base_url=pair.stack.lb_url, timeout=5) as client:
            codes = [client.post("/api/players", json={"name": "x"}).status_code
                     for _ in range(5)]
            assert codes == [200, 200, 200, 429, 429]
            r = client.post("/api/players", json={"name": "x"})
            assert r.status_code == 429
            assert r.json()["error"]["code"] == "rate_limited"
            assert r.headers["Retry-After"] == "60"
            assert "请稍后再试" in r.json()["error"]["message"]
            # Other routes, and other methods on the same path, are not limited.
            assert client.post("/api/players/p1/actions", json={}).status_code == 200
            assert client.get("/api/players").status_code == 200
        assert len(pair.flask.posts) == 4  # 3 creations and the action
    finally:
        yield_stack.close()


def _envelope(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]


def test_haproxy_own_errors_use_the_json_envelope() -> None:
    gen = standin_stack(LB_SERVER_TIMEOUT="1s", LB_HTTP_REQUEST_TIMEOUT="1s")
    pair = next(gen)
    try:
        url = pair.stack.lb_url
        # 504: the app took the request and stayed silent past `timeout server`.
        _envelope(httpx.get(url + "/slow", timeout=10), 504, "service_unavailable")
        # 413: a declared body above the apps' limit is refused before any app sees it.
        _envelope(httpx.post(url + "/x", content=b"x" * 70_000, timeout=5), 413,
                  "payload_too_large")
        # 408: the body did not arrive in time (the request never reached an app).
        with socket.create_connection(("127.0.0.1", pair.stack.lb_port), timeout=10) as conn:
            conn.sendall(b"POST /api/players HTTP/1.1\r\nHost: lb\r\nContent-Type: "
                         b"application/json\r\nContent-Length: 20\r\n\r\n{\"na")
            started = time.monotonic()
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
            assert time.monotonic() - started < 5
        head, body = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 408")
        assert b"application/json" in head
        assert b'"code": "request_timeout"' in body
        assert pair.flask.posts == []
        # 503: no app at all.
        pair.flask.stop()
        pair.quart.stop()
        r = httpx.get(url + "/api/players", timeout=10)
        _envelope(r, 503, "service_unavailable")
        assert r.headers["Retry-After"] == "1"
        assert "请稍后重试" in r.json()["error"]["message"]
    finally:
        gen.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "203.0.113.7", "::"])
def test_apps_refuse_a_public_bind_address(host: str) -> None:
    """The apps listen on loopback or a private address, behind HAProxy; nothing is started."""
    stack = OpsStack.create(APP_BIND_HOST=host)
    try:
        r = stack.stack("start", "quart", "flask")
        assert r.returncode == 1
        assert f"APP_BIND_HOST={host} is not a loopback or private address" in r.stderr
        assert stack.pids() == {}
    finally:
        stack.teardown()
