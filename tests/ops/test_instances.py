"""Several instances, proven (issue 12, item 4).

Two quart_app (hypercorn) and two legacy_flask (gunicorn) instances on their production
servers and ``deploy/`` configs, behind HAProxy as ``scripts/stack.sh start haproxy`` renders
it from ``deploy/haproxy.cfg.template`` (``QUART_UPSTREAMS`` / ``FLASK_UPSTREAMS`` listing two
servers each), one fresh PostgreSQL database, Redis (``REDIS_URL`` set, so the limit and
budget counters live there), the fake DeepSeek, and for ``LLM_BACKEND=celery`` one Celery
worker. Everything on 127.0.0.1, every process stopped by its pid.

Players act concurrently through HAProxy on plain HTTP/1.1 keep-alive connections
(``http.client``, one connection each, never a retry), paced under the action rate limit,
while ``scripts/toggle_async.sh`` switches between the apps. Mid-load one quart instance gets
SIGTERM while requests (slow LLM calls) are in flight on it. What must hold:

- 0 failed requests and 0 reopened connections, through every switch and the kill;
- every acknowledged action applied exactly once: each player's seqs in the store are the
  creation entry plus exactly the seqs its 200 answers carried, and its version matches;
- the requests in flight on the killed instance finish there (200, narrated by the LLM),
  later ones go to its sibling, and it rejoins once restarted;
- LLM token budgets hold across instances: each player's shared counter stays within
  ``LLM_PLAYER_DAILY_TOKENS`` and equals what the fake upstream billed for it; a player
  over its budget, acting on all four instances, gets offline narration with reason
  ``player_budget`` and the fake sees no call;
- the action rate limit holds across instances: a player hammering all four instances at
  once gets exactly ``ACTION_RATE_PER_MINUTE`` actions through, the rest 429.

The test prints its figures (requests, actions, failures, limits observed).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devtools.procs import AppServer, FakeDeepSeek, Proc, drop_queue, start_app, start_worker
from tests.conftest import free_port
from tests.ops.test_stack import apps_importable, toggle_ok
from tests.ops.test_support import OpsStack, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

ACTION_LIMIT = 90  # ACTION_RATE_PER_MINUTE: actions per player per minute, every instance
PACE_S = 0.7  # a load player's pause between answers: under ACTION_LIMIT a minute
PLAYER_TOKENS = 3000  # LLM_PLAYER_DAILY_TOKENS: a few narrations per player, then offline
RESERVE_TOKENS = 1500  # LLM_CALL_RESERVE_TOKENS (the default, set explicitly)
LOAD_PLAYERS = 20
PROBES = 6  # fresh players whose slow LLM calls are in flight when the instance is killed
HAMMER_PER_INSTANCE = 40
LLM_LIMIT = 20  # LLM_RATE_PER_MINUTE: /api/llm calls per player per minute (a Redis counter)
LLM_HAMMER_PER_INSTANCE = 12
LOAD_LIMIT_S = 80  # no load thread runs longer than this, whatever happens
DAY = 86_400


# --- the deployment ---------------------------------------------------------------------------


@dataclass
class Deployment:
    """Four app instances (quart1, quart2, flask1, flask2), HAProxy, maybe a Celery worker."""

    ops: OpsStack
    env: dict[str, str]
    log_dir: Path
    quart: list[AppServer]
    flask: list[AppServer]
    worker: Proc | None = None

    @property
    def servers(self) -> dict[str, AppServer]:
        """HAProxy's server name (the order of the upstream lists) -> instance."""
        named = {f"quart{i + 1}": s for i, s in enumerate(self.quart)}
        named.update({f"flask{i + 1}": s for i, s in enumerate(self.flask)})
        return named

    def stop(self) -> None:
        """Every process this test started, by pid (HAProxy through the stack's script)."""
        self.ops.teardown()
        for server in [*self.quart, *self.flask]:
            server.stop(20)
        if self.worker is not None:
            self.worker.stop(20)


def start_instance(kind: str, env: dict[str, str], log_dir: Path, port: int,
                   name: str) -> AppServer:
    """One instance on its production server: hypercorn in its own process (as stack.sh runs
    it), gunicorn with one gthread worker of 16 threads (this machine's share)."""
    if kind == "quart":
        return start_app("quart", env, log_dir, port=port, workers=0, name=name,
                         ready_timeout=120)
    return start_app("flask", env, log_dir, port=port, workers=1, threads=16, name=name,
                     ready_timeout=120)


@pytest.fixture
def deployment(request: pytest.FixtureRequest, postgres_url: str, redis_url: str,
               fake: FakeDeepSeek) -> Iterator[Deployment]:
    """The four instances on one PostgreSQL database and Redis, HAProxy in front."""
    backend: str = request.param
    apps_importable()
    fake.configure(latency=0.05)
    ports = {name: free_port() for name in ("quart1", "quart2", "flask1", "flask2")}
    queue = f"instances-{uuid.uuid4().hex[:8]}"
    env = {
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,  # limits and budgets in Redis (LIMITS_BACKEND follows)
        "DEEPSEEK_BASE_URL": fake.base_url,
        "DEEPSEEK_API_KEY": fake.api_key,
        "LLM_BACKEND": "celery" if backend == "celery" else "",
        "CELERY_QUEUE": queue,
        "ACTION_RATE_PER_MINUTE": str(ACTION_LIMIT),
        "LLM_RATE_PER_MINUTE": str(LLM_LIMIT),
        "LLM_PLAYER_DAILY_TOKENS": str(PLAYER_TOKENS),
        "LLM_CALL_RESERVE_TOKENS": str(RESERVE_TOKENS),
        "CREATE_RATE_PER_MINUTE": "100000",  # every player of the test comes from 127.0.0.1
        "LOG_LEVEL": "WARNING",
    }
    ops = OpsStack.create(
        QUART_UPSTREAMS=f"127.0.0.1:{ports['quart1']} 127.0.0.1:{ports['quart2']}",
        FLASK_UPSTREAMS=f"127.0.0.1:{ports['flask1']} 127.0.0.1:{ports['flask2']}",
        FLASK_MAXCONN="16",  # one gunicorn worker x 16 threads per flask instance
        LB_CREATE_RATE="1000000",
        VERIFY_REQUESTS="4",
    )
    log_dir = ops.runtime / "logs"
    env["XIANXIA_RUNTIME_DIR"] = str(ops.runtime)
    dep = Deployment(ops, env, log_dir, [], [])
    try:
        with ThreadPoolExecutor(5) as pool:
            worker = (pool.submit(start_worker, env, log_dir, name="worker", concurrency=8)
                      if backend == "celery" else None)
            started = {name: pool.submit(start_instance, name[:-1], env, log_dir, port, name)
                       for name, port in ports.items()}
            dep.quart = [started["quart1"].result(), started["quart2"].result()]
            dep.flask = [started["flask1"].result(), started["flask2"].result()]
            dep.worker = worker.result() if worker is not None else None
        lb = ops.stack("start", "haproxy", timeout=60)
        assert lb.returncode == 0, lb.stderr
        yield dep
    finally:
        dep.stop()
        with contextlib.suppress(Exception):
            drop_queue(redis_url, queue)


# --- clients ----------------------------------------------------------------------------------


@dataclass
class Answer:
    """One answer a client got."""

    status: int
    server: str  # X-LB-Server (through HAProxy) or the instance addressed directly
    seq: int | None
    narrated: bool  # prose by the LLM in the answer
    task: bool  # a narration task queued (Celery)
    reason: str  # Narration-Degraded-Reason, "" when none
    started: float
    ended: float


@dataclass
class Player:
    """A player as its clients saw it."""

    id: str
    token: str
    version0: int
    created: Answer | None = None  # the creation, narrated like an action (seq 0)
    answers: list[Answer] = field(default_factory=list)  # to its actions
    asked: list[Answer] = field(default_factory=list)  # to its POST /api/llm calls

    @property
    def acked(self) -> list[int]:
        """The seqs of every acknowledged (200) action."""
        return [a.seq for a in self.answers if a.status == 200 and a.seq is not None]

    @property
    def llm_answers(self) -> list[Answer]:
        """Every answer that may have cost an LLM call: creation, actions, /api/llm."""
        return [*([self.created] if self.created else []), *self.answers, *self.asked]


def call(conn: http.client.HTTPConnection, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """One request on a kept-alive connection; (status, JSON body, headers lower-cased)."""
    data = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=data,
                 headers={"Content-Type": "application/json", **(headers or {})})
    r = conn.getresponse()
    raw = r.read()
    return r.status, (json.loads(raw) if raw else {}), {k.lower(): v for k, v in r.getheaders()}


def create_player(port: int, name: str) -> Player:
    """A new player, created through HAProxy (its opening story narrated like an action)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.monotonic()
    try:
        status, body, h = call(conn, "POST", "/api/players", {"name": name})
    finally:
        conn.close()
    assert status == 201, body
    narration = body.get("narration") or {}
    created = Answer(status, h.get("x-lb-server", "?"), 0,
                     bool(narration) and not narration.get("degraded"),
                     bool(body.get("narration_task")), h.get("narration-degraded-reason", ""),
                     started, time.monotonic())
    return Player(body["player"]["id"], body["token"], body["version"], created)


def act(conn: http.client.HTTPConnection, player: Player, kind: str,
        server: str | None = None) -> Answer:
    """One action (a fresh Idempotency-Key, sent once); records and returns the answer."""
    headers = {"Authorization": f"Bearer {player.token}", "Idempotency-Key": uuid.uuid4().hex}
    started = time.monotonic()
    status, body, h = call(conn, "POST", f"/api/players/{player.id}/actions", {"type": kind},
                           headers)
    narration = body.get("narration") or {}
    answer = Answer(status, server or h.get("x-lb-server", "?"), body.get("seq"),
                    bool(narration) and not narration.get("degraded"),
                    bool(body.get("narration_task")), h.get("narration-degraded-reason", ""),
                    started, time.monotonic())
    player.answers.append(answer)
    if status == 422:
        answer.reason = str(body["error"]["code"])
    return answer


def ask(conn: http.client.HTTPConnection, player: Player, server: str | None = None) -> Answer:
    """One ``POST /api/llm`` as this player; records and returns the answer."""
    started = time.monotonic()
    status, body, h = call(conn, "POST", "/api/llm", {"prompt": "以一句话描写山门晨雾。"},
                           {"Authorization": f"Bearer {player.token}"})
    answer = Answer(status, server or h.get("x-lb-server", "?"), None,
                    status == 200 and not body.get("degraded", True), False,
                    str(body.get("reason") or (body.get("error") or {}).get("code") or ""),
                    started, time.monotonic())
    player.asked.append(answer)
    return answer


# A simple player: cultivate; at the bottleneck try to break through; when beaten down, rest.
NEXT_AFTER_REFUSAL = {"qi_full": "breakthrough", "dead": "rest"}


def act_applied(conn: http.client.HTTPConnection, player: Player, server: str) -> Answer:
    """Act (as a simple player does) until the rules accept an action; its answer."""
    for kind in ("cultivate", "breakthrough", "rest", "explore"):
        answer = act(conn, player, kind, server=server)
        if answer.status != 422:
            assert answer.status == 200, (server, answer)
            return answer
    raise AssertionError(f"{player.id}: no action accepted on {server}: {player.answers[-5:]}")


@dataclass
class Load:
    """One thread per player, each on ONE keep-alive connection to HAProxy, never resending:
    any exception, any status but 200/422 and any reopened connection is a failure."""

    port: int
    players: list[Player]
    failures: list[str] = field(default_factory=list)
    reconnects: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        """Start acting."""
        for player in self.players:
            t = threading.Thread(target=self._run, args=(player,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def finish(self) -> None:
        """Stop and wait (bounded)."""
        self.stop.set()
        for t in self._threads:
            t.join(timeout=40)
        assert not any(t.is_alive() for t in self._threads), "a load thread hung"

    def _run(self, player: Player) -> None:
        deadline = time.monotonic() + LOAD_LIMIT_S
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sock = None
        kind = "cultivate"
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                try:
                    answer = act(conn, player, kind)
                except (OSError, http.client.HTTPException) as exc:
                    with self._lock:
                        self.failures.append(f"{player.id}: {type(exc).__name__}: {exc}")
                    return
                if sock is not None and conn.sock is not sock:
                    with self._lock:
                        self.reconnects += 1
                sock = conn.sock
                if answer.status not in (200, 422):
                    with self._lock:
                        self.failures.append(f"{player.id}: {answer.status} via {answer.server}")
                    return
                kind = NEXT_AFTER_REFUSAL.get(answer.reason, "cultivate") \
                    if answer.status == 422 else "cultivate"
                self.stop.wait(PACE_S)
        finally:
            conn.close()


def answers(players: list[Player]) -> list[Answer]:
    """Every answer of these players."""
    return [a for p in players for a in p.answers]


# --- what the store and Redis hold ----------------------------------------------------------


def store_log(database_url: str, player_id: str) -> tuple[list[int], int]:
    """(the player's seqs in action_log, its stored version), straight from PostgreSQL."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        seqs = [r[0] for r in conn.execute(
            "SELECT seq FROM action_log WHERE player_id = %s ORDER BY seq", (player_id,))]
        row = conn.execute("SELECT version FROM players WHERE id = %s", (player_id,)).fetchone()
    assert row is not None, player_id
    return seqs, int(row[0])


def unnarrated(database_url: str, player_ids: list[str]) -> int:
    """Log entries of these players (actions, not creations) still without prose."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM action_log WHERE player_id = ANY(%s) "
                           "AND seq > 0 AND narration IS NULL", (player_ids,)).fetchone()
    return int(row[0]) if row else -1


def player_tokens(redis_url: str, player_id: str) -> int:
    """The player's LLM token counter today (and yesterday's, at a day's turn), in Redis."""
    import redis

    slot = int(time.time() // DAY)
    with redis.Redis.from_url(redis_url, socket_connect_timeout=3) as client:
        keys = [f"xianxia:limit:llm.tokens.player.{player_id}:{DAY}:{s}" for s in (slot - 1, slot)]
        return sum(int(v or 0) for v in client.mget(keys))


def check_exactly_once(database_url: str, players: list[Player]) -> None:
    """The store holds the creation entry plus exactly the acknowledged seqs, once each."""
    for p in players:
        acked = p.acked
        assert len(acked) == len(set(acked)), (p.id, "a seq acknowledged twice", acked)
        seqs, version = store_log(database_url, p.id)
        assert seqs == [0, *sorted(acked)], (p.id, seqs[:5], sorted(acked)[:5])
        assert version == p.version0 + len(acked), (p.id, version, p.version0, len(acked))


# --- the test ---------------------------------------------------------------------------------


def kill_mid_load(dep: Deployment, probes: list[Player], celery: bool,
                  fake: FakeDeepSeek) -> tuple[float, float]:
    """SIGTERM quart1 while the probes' slow requests are in flight through HAProxy: an
    action narrated in the request, or (Celery mode, where actions only queue their
    narration) a ``POST /api/llm`` that waits for the worker. Returns (when the signal was
    sent, when the process was gone)."""
    victim = dep.quart[0]
    fake.configure(latency=1.5)  # the probes' LLM calls are in flight for 1.5 s
    threads = []
    for probe in probes:
        def one(p: Player = probe) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", dep.ops.lb_port, timeout=30)
            try:
                ask(conn, p) if celery else act(conn, p, "cultivate")
            except (OSError, http.client.HTTPException) as exc:
                p.asked.append(Answer(0, f"{type(exc).__name__}: {exc}", None, False, False,
                                      "", 0.0, 0.0))
            finally:
                conn.close()
        t = threading.Thread(target=one, daemon=True)
        t.start()
        threads.append(t)
    time.sleep(0.5)
    killed_at = time.monotonic()
    victim.proc.signal(signal.SIGTERM)  # graceful: hypercorn finishes what it has
    assert wait_until(lambda: not victim.proc.alive(), 60), "quart1 did not exit on SIGTERM"
    gone_at = time.monotonic()
    for t in threads:
        t.join(timeout=30)
    fake.configure(latency=0.05)
    return killed_at, gone_at


@pytest.mark.parametrize("deployment", ["direct", "celery"], indirect=True)
def test_four_instances_behind_haproxy(deployment: Deployment, fake: FakeDeepSeek,
                                       redis_url: str) -> None:
    dep = deployment
    ops, db = dep.ops, dep.env["DATABASE_URL"]
    celery = dep.env["LLM_BACKEND"] == "celery"
    began = time.monotonic()

    players = [create_player(ops.lb_port, f"道友{i}") for i in range(LOAD_PLAYERS)]
    probes = [create_player(ops.lb_port, f"探子{i}") for i in range(PROBES)]
    load = Load(ops.lb_port, players).start()
    switches = 0
    try:
        time.sleep(1.0)
        for step in (("async",), ("canary", "50"), ("sync",), ("async",), ("sync",),
                     ("async",)):
            toggle_ok(ops, *step)
            switches += 1
            time.sleep(1.0)
        # Async, both quart instances serving: SIGTERM one of them mid-load.
        killed_at, gone_at = kill_mid_load(dep, probes, celery, fake)
        time.sleep(1.0)
        # Still "async", but one of its servers is down: the toggle says so (exit 1), and
        # would refuse a switch to it.
        down = ops.toggle("async", timeout=60)
        assert down.returncode == 1 and "the target is down" in down.stderr, down.stderr
        toggle_ok(ops, "sync")
        switches += 1
        # The drained instance comes back on its port and rejoins.
        restarted_at = time.monotonic()
        dep.quart[0] = start_instance("quart", dep.env, dep.log_dir,
                                      int(dep.quart[0].base_url.rsplit(":", 1)[1]), "quart1")
        assert wait_until(lambda: ops.server_status("be_quart", "quart1").startswith("UP"), 20)
        toggle_ok(ops, "async")
        switches += 1
        time.sleep(1.5)
    finally:
        load.finish()
    loaded = time.monotonic()

    got = answers(players)
    probe_answers = [a for p in probes for a in p.answers + p.asked]
    served = Counter(a.server for a in got + probe_answers)
    print(f"[{'celery' if celery else 'direct'}] load: {len(got) + len(probe_answers)} "
          f"requests ({len(players + probes)} players, {switches} switches, quart1 SIGTERM'd "
          f"and restarted), {sum(len(p.acked) for p in players + probes)} actions "
          f"applied, {sum(a.status == 422 for a in got)} refused by the rules, "
          f"{len(load.failures)} failed, {load.reconnects} reconnects; served by "
          f"{dict(sorted(served.items()))}")
    assert load.failures == [], load.failures[:10]
    assert load.reconnects == 0
    assert len(got) > 150, f"too little load to mean anything: {len(got)}"
    assert set(served) == {"quart1", "quart2", "flask1", "flask2"}, served

    # The kill: every request in flight finished, those on quart1 there (after the signal),
    # and nothing reached quart1 while it was gone.
    assert len(probe_answers) == PROBES
    assert all(a.status == 200 and a.narrated for a in probe_answers), probe_answers
    on_victim = [a for a in probe_answers if a.server == "quart1"]
    assert on_victim, f"no probe was in flight on quart1: {[a.server for a in probe_answers]}"
    assert all(a.started < killed_at < a.ended for a in on_victim), on_victim
    while_gone = [a for a in got if killed_at < a.started and a.ended < restarted_at]
    assert not [a for a in while_gone if a.server == "quart1" and a.started > gone_at]
    sibling = sum(a.server == "quart2" for a in while_gone)
    print(f"kill: {len(on_victim)} of {PROBES} slow probe requests ("
          f"{'POST /api/llm via the worker' if celery else 'actions narrated in-request'}) "
          f"in flight on quart1 finished "
          f"there {max(a.ended for a in on_victim) - killed_at:.2f} s after SIGTERM; quart1 "
          f"exited {gone_at - killed_at:.2f} s after it; until its restart "
          f"{len(while_gone)} requests were answered ({sibling} by quart2, the rest by flask "
          f"after the switch to sync), none failed")

    # Narrations queued on any instance are told once by the worker.
    everyone = players + probes
    if celery:
        assert wait_until(lambda: unnarrated(db, [p.id for p in everyone]) == 0, 40, 0.3), \
            "narration tasks left untold"

    # Budgets across instances: each player's shared counter within its budget, and the
    # upstream saw exactly the calls the counters allowed.
    stats = fake.stats()
    tokens = {p.id: player_tokens(redis_url, p.id) for p in everyone}
    narrated = sum(a.narrated for p in everyone for a in p.llm_answers)
    tasks = sum(a.task for p in everyone for a in p.llm_answers)
    over = [p for p in players if any(a.reason == "player_budget" for a in p.answers)]
    print(f"budgets: {narrated + tasks} LLM calls ({tasks} queued for the worker), fake saw "
          f"{stats['chat']} calls / {stats['tokens']} tokens; per-player counters "
          f"max {max(tokens.values())} of {PLAYER_TOKENS}; {len(over)} of {len(players)} "
          f"load players went over budget")
    assert all(v <= PLAYER_TOKENS for v in tokens.values()), tokens
    assert len(over) == len(players), "every load player should have spent its budget"
    if celery:
        # A queued call keeps its reservation: exactly PLAYER_TOKENS // RESERVE_TOKENS
        # tasks per player (its creation's included), wherever its requests landed.
        for p in players:
            queued = sum(a.task for a in p.llm_answers)
            assert queued == PLAYER_TOKENS // RESERVE_TOKENS, (p.id, queued)
            assert tokens[p.id] == RESERVE_TOKENS * queued
        assert stats["chat"] == tasks + narrated
    else:
        assert stats["chat"] == narrated
        assert sum(tokens.values()) == stats["tokens"]

    # A player over its budget, on each of the four instances directly: offline, and the fake
    # sees no call.
    broke = min(over, key=lambda p: len(p.answers))
    chat_before = fake.stats()["chat"]
    for name, server in dep.servers.items():
        port = int(server.base_url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for _ in range(2):
                a = act_applied(conn, broke, name)
                assert a.reason == "player_budget" and not a.narrated and not a.task, (name, a)
        finally:
            conn.close()
    assert fake.stats()["chat"] == chat_before
    assert player_tokens(redis_url, broke.id) == tokens[broke.id]

    # Every acknowledged action is in the store exactly once (PostgreSQL, read directly).
    check_exactly_once(db, everyone)

    # The action rate limit across instances: one fresh player, four connections at once (one
    # per instance), as fast as they get answers.
    hammer = create_player(ops.lb_port, "莽夫")

    def pound(name: str, server: AppServer) -> None:
        port = int(server.base_url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        kind = "cultivate"
        try:
            for _ in range(HAMMER_PER_INSTANCE):
                a = act(conn, hammer, kind, server=name)
                kind = NEXT_AFTER_REFUSAL.get(a.reason, "cultivate") if a.status == 422 \
                    else "cultivate"
        finally:
            conn.close()

    pounded = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        for f in [pool.submit(pound, n, s) for n, s in dep.servers.items()]:
            f.result()
    took = time.monotonic() - pounded
    statuses = Counter(a.status for a in hammer.answers)
    ok_by_instance = Counter(a.server for a in hammer.answers if a.status == 200)
    print(f"rate limit: {len(hammer.answers)} actions in {took:.1f} s on 4 instances: "
          f"{dict(statuses)}; accepted per instance {dict(sorted(ok_by_instance.items()))} "
          f"(limit {ACTION_LIMIT}/min)")
    assert took < 55, "the hammer must fit in one minute for the count to be exact"
    assert set(statuses) <= {200, 422, 429}, statuses
    assert statuses[200] == ACTION_LIMIT, statuses
    assert len(ok_by_instance) == 4, ok_by_instance
    check_exactly_once(db, [hammer])

    # The LLM call rate, counted in Redis per fixed minute: the same, on /api/llm. (Started
    # at least 8 s before a minute ends, so every call falls in one window.)
    left = 60 - time.time() % 60
    if left < 8:
        time.sleep(left + 0.2)
    window_left = 60 - time.time() % 60
    caller = create_player(ops.lb_port, "问天")

    def nag(name: str, server: AppServer) -> None:
        port = int(server.base_url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for _ in range(LLM_HAMMER_PER_INSTANCE):
                ask(conn, caller, server=name)
        finally:
            conn.close()

    nagged = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        for f in [pool.submit(nag, n, s) for n, s in dep.servers.items()]:
            f.result()
    took = time.monotonic() - nagged
    llm_statuses = Counter(a.status for a in caller.asked)
    print(f"LLM call rate: {len(caller.asked)} POST /api/llm in {took:.1f} s on 4 instances: "
          f"{dict(llm_statuses)}; through per instance "
          f"{dict(sorted(Counter(a.server for a in caller.asked if a.status == 200).items()))}"
          f" (limit {LLM_LIMIT}/min)")
    assert took < window_left, "the calls straddled two rate windows"
    assert set(llm_statuses) <= {200, 429}, llm_statuses
    assert llm_statuses[200] == LLM_LIMIT, llm_statuses
    print(f"total {time.monotonic() - began:.1f} s (load phase {loaded - began:.1f} s)")
