"""scripts/toggle_async.sh against real nginx and two stand-in apps (fast, no real apps).

Each test gets its own runtime folder, free ports, nginx started by ``scripts/stack.sh start
nginx`` and stopped by pid at the end. The stand-ins (tests/ops/test_support.py) answer
/healthz, /readyz and anything else with ``X-App`` naming themselves.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import free_port
from tests.ops.test_support import OpsStack, StandIn, StandInPair, standin_stack, wait_until

pytestmark = [pytest.mark.services]


@pytest.fixture
def pair() -> Iterator[StandInPair]:
    """nginx in front of the two stand-ins; flask active at start (the stack's default)."""
    yield from standin_stack()


def served_apps(url: str, n: int) -> Counter[str]:
    """Which app answered each of ``n`` sequential GETs through nginx."""
    seen: Counter[str] = Counter()
    with httpx.Client(timeout=5) as client:
        for _ in range(n):
            r = client.get(url + "/whoami")
            assert r.status_code == 200, r.text
            seen[r.headers["X-App"]] += 1
    return seen


def unchanged(pair: StandInPair, before: bytes, generation: str) -> None:
    """The include and what nginx serves are exactly as before."""
    assert pair.stack.upstream_file.read_bytes() == before
    assert f"generation={generation}" in pair.stack.lb_state()


def current_generation(pair: StandInPair) -> str:
    """The generation nginx serves now."""
    state = pair.stack.lb_state()
    return state.split("generation=")[1].split()[0]


def test_switch_both_ways_and_idempotent(pair: StandInPair) -> None:
    stack = pair.stack
    assert served_apps(stack.lb_url, 5) == {"flask": 5}

    r = stack.toggle("async")
    assert r.returncode == 0, r.stderr
    assert "active=quart canary=0" in stack.lb_state()
    assert served_apps(stack.lb_url, 10) == {"quart": 10}
    text = stack.upstream_file.read_text()
    assert f"127.0.0.1:{stack.quart_port} max_fails" in text
    assert f"127.0.0.1:{stack.flask_port} backup" in text

    generation = current_generation(pair)
    before = stack.upstream_file.read_bytes()
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
    before = pair.stack.upstream_file.read_bytes()
    r = pair.stack.toggle(*args, **env)
    assert r.returncode == 2
    assert message in r.stderr
    assert "usage" in r.stderr.lower() or "toggle_async.sh async" in r.stderr
    unchanged(pair, before, generation)
    assert not pair.stack.toggle_log.exists()


@pytest.mark.parametrize("sickness", ["stopped", "not_ready", "wrong_app", "healthz_503"])
def test_unhealthy_target_is_refused(pair: StandInPair, sickness: str) -> None:
    generation = current_generation(pair)
    before = pair.stack.upstream_file.read_bytes()
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


def test_nginx_down_is_refused(pair: StandInPair) -> None:
    stack = pair.stack
    before = stack.upstream_file.read_bytes()
    stopped = stack.stack("stop", "nginx")
    assert stopped.returncode == 0, stopped.stderr
    r = stack.toggle("async")
    assert r.returncode == 1
    assert "nginx is not running" in r.stderr
    assert stack.upstream_file.read_bytes() == before
    assert not (stack.runtime / "nginx" / "active_upstream.conf.prev").exists()


def test_unwritable_config_is_refused(pair: StandInPair) -> None:
    stack = pair.stack
    generation = current_generation(pair)
    before = stack.upstream_file.read_bytes()
    if os.geteuid() == 0:
        # root writes anywhere: run the toggle as an unprivileged user instead.
        r = stack.run("toggle_async.sh", "async", user="65534:65534")
    else:
        (stack.runtime / "nginx").chmod(0o555)
        try:
            r = stack.toggle("async")
        finally:
            (stack.runtime / "nginx").chmod(0o755)
    assert r.returncode == 1, r.stderr
    assert "is not writable" in r.stderr
    unchanged(pair, before, generation)


def test_dry_run_changes_nothing(pair: StandInPair) -> None:
    stack = pair.stack
    generation = current_generation(pair)
    before = stack.upstream_file.read_bytes()
    r = stack.toggle("--dry-run", "canary", "30")
    assert r.returncode == 0, r.stderr
    assert "dry run: would switch from sync to canary-30%" in r.stderr
    assert f"127.0.0.1:{stack.quart_port} weight=30" in r.stdout
    unchanged(pair, before, generation)
    assert not stack.toggle_log.exists()
    assert not (stack.runtime / "nginx" / "active_upstream.conf.prev").exists()
    # A dry run still checks health: an unhealthy target fails it.
    pair.quart.ready = False
    assert stack.toggle("--dry-run", "async").returncode == 1
    unchanged(pair, before, generation)


def test_canary_splits_by_weight_and_async_ends_it(pair: StandInPair) -> None:
    stack = pair.stack
    r = stack.toggle("canary", "30")
    assert r.returncode == 0, r.stderr
    # One nginx worker, smooth weighted round robin: any 100 consecutive picks hold 30 quart.
    seen = served_apps(stack.lb_url, 100)
    assert 25 <= seen["quart"] <= 35 and seen["quart"] + seen["flask"] == 100, seen
    status = stack.toggle("status")
    assert status.returncode == 0, status.stderr
    assert "canary: quart 30%, flask 70%" in status.stdout
    assert "quart:      healthy" in status.stdout and "flask:      healthy" in status.stdout

    assert stack.toggle("canary", "30").returncode == 0  # idempotent
    assert stack.toggle("async").returncode == 0
    assert served_apps(stack.lb_url, 20) == {"quart": 20}
    assert "backup" in stack.upstream_file.read_text()
    # canary 0 and 100 are the plain modes.
    assert stack.toggle("canary", "0").returncode == 0
    assert served_apps(stack.lb_url, 5) == {"flask": 5}
    assert "mode:       sync" in stack.toggle("status").stdout


def test_rolls_back_when_target_turns_sick_after_its_check(pair: StandInPair) -> None:
    stack = pair.stack
    generation = current_generation(pair)
    before = stack.upstream_file.read_bytes()
    # Healthy for the direct check (/healthz + /readyz), 503 for everything after it.
    pair.quart.sick_after = 2
    r = stack.toggle("async")
    assert r.returncode == 1, r.stderr
    assert "through nginx gave 503" in r.stderr
    assert "rolled back to sync" in r.stderr
    unchanged(pair, before, generation)
    assert served_apps(stack.lb_url, 5) == {"flask": 5}
    assert "result=rolled_back" in stack.toggle_log.read_text()


def test_rolls_back_when_target_dies_after_its_check(pair: StandInPair) -> None:
    stack = pair.stack
    generation = current_generation(pair)
    before = stack.upstream_file.read_bytes()

    original = pair.quart.health_hit

    def die_after_check(path: str) -> bool:
        ok = original(path)
        if path == "/readyz":
            pair.quart.dead = True  # every later request on any connection is dropped
        return ok

    pair.quart.health_hit = die_after_check  # type: ignore[method-assign]
    r = stack.toggle("async")
    assert r.returncode == 1, r.stderr
    # nginx fell back to the backup, so the target did not answer: that is a failed switch.
    assert "reached 'flask' (X-App flask), expected quart" in r.stderr
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
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "service_unavailable"
    assert len(pair.flask.posts) == 1
    assert pair.quart.posts == []
    # GETs are idempotent: the same failure on a GET would be retried, but POSTs never.
    assert wait_until(lambda: "upstream prematurely closed" in (
        stack.runtime / "logs" / "nginx-error.log").read_text(), 5)


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
    stack = OpsStack.create(NGINX_WORKERS="1")
    second_port = free_port()
    stack.extra_env["QUART_UPSTREAMS"] = (
        f"127.0.0.1:{stack.quart_port} 127.0.0.1:{second_port}")
    quart_a = StandIn("quart", stack.quart_port).start()
    quart_b = StandIn("quart", second_port).start()
    flask = StandIn("flask", stack.flask_port).start()
    try:
        assert stack.stack("start", "nginx").returncode == 0
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
        assert stack.toggle("async").returncode == 0
        text = stack.upstream_file.read_text()
        assert text.count(" max_fails=1 fail_timeout=10s;  # quart (active)") == 2
        assert text.count(" backup;") == 1
    finally:
        stack.teardown()
        for standin in (quart_a, quart_b, flask):
            standin.stop()


def test_reapplies_when_nginx_does_not_serve_the_include(pair: StandInPair) -> None:
    """After e.g. a failed rollback the include and nginx disagree: the same mode repairs it."""
    stack = pair.stack
    assert stack.toggle("async").returncode == 0
    served = current_generation(pair)
    stack.upstream_file.write_text(stack.upstream_file.read_text().replace(served, "stale-1"))
    r = stack.toggle("async")
    assert r.returncode == 0, r.stderr
    assert "applying it again" in r.stderr
    now = current_generation(pair)
    assert now not in (served, "stale-1")
    assert f"generation={now}" in stack.upstream_file.read_text()
    assert served_apps(stack.lb_url, 4) == {"quart": 4}
