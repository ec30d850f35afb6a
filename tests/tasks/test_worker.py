"""The Celery worker for real: worker subprocesses on real Redis (db 15), the fake DeepSeek.

Each worker consumes its own queue (``CELERY_QUEUE``), so nothing here takes another test's
tasks. Every wait is bounded; every worker is stopped by its PID (its process group) at the
end of its test.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

from devtools import procs
from devtools.procs import FakeDeepSeek
from shared.config import Settings
from shared.tasks import AsyncTaskQueue, TaskQueue, task_timings

pytestmark = [pytest.mark.services, pytest.mark.slow]

READY_TIMEOUT = 30.0


@dataclass
class Worker:
    """A Celery worker subprocess, started and stopped by PID by ``devtools.procs``."""

    proc: procs.Proc

    def log(self) -> str:
        return self.proc.log_text()

    def pool_children(self) -> list[int]:
        return [c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)]

    def kill(self) -> None:
        """SIGKILL the whole worker: no warm shutdown, nothing acknowledged or restored."""
        self.proc.kill()

    def stop(self) -> None:
        """TERM (warm shutdown), KILL after a bound."""
        self.proc.stop(15)


def drop_queue(redis_url: str, name: str) -> None:
    """Delete a test queue and the binding tables kombu keeps for it (they have no TTL)."""
    redis.Redis.from_url(redis_url).delete(
        name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


class Workers:
    """Starts workers for one test and stops all of them at its end."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.started: list[Worker] = []

    def start(self, *, pool: str = "threads", concurrency: int = 4) -> Worker:
        name = f"w{len(self.started)}-{uuid.uuid4().hex[:6]}@test"
        command = procs.worker_command(name, pool=pool, concurrency=concurrency)
        proc = procs.start(f"worker-{len(self.started)}", command, self.env, self.log_dir)
        worker = Worker(proc)
        self.started.append(worker)
        wait_for(lambda: " ready." in worker.log() or not proc.alive(),
                 READY_TIMEOUT, "the worker to be ready")
        assert proc.alive(), worker.log()
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


@dataclass
class Rig:
    """Settings, a producer queue and a worker factory, all on one private Celery queue."""

    settings: Settings
    queue: TaskQueue
    workers: Workers
    fake: FakeDeepSeek


@contextmanager
def _rig(redis_url: str, fake: FakeDeepSeek, sqlite_url: str, tmp_path: Path,
         **overrides: Any) -> Iterator[Rig]:
    settings = fake.settings(
        redis_url=redis_url, celery_queue=f"test-w-{uuid.uuid4().hex[:8]}",
        database_url=sqlite_url, llm_max_retries=1, **overrides,
    )
    env = {
        "REDIS_URL": settings.redis_url,
        "CELERY_QUEUE": settings.celery_queue,
        "DATABASE_URL": settings.database_url,
        "DEEPSEEK_API_KEY": settings.deepseek_api_key or "",
        "DEEPSEEK_BASE_URL": settings.deepseek_base_url,
        "LLM_MAX_RETRIES": str(settings.llm_max_retries),
        "LLM_TOTAL_TIMEOUT": str(settings.llm_total_timeout),
        "LOG_LEVEL": "INFO",
    }
    queue = TaskQueue(settings)
    workers = Workers(env, tmp_path)
    try:
        yield Rig(settings, queue, workers, fake)
    finally:
        workers.stop_all()
        queue.close()
        drop_queue(redis_url, settings.celery_queue)


@pytest.fixture
def rig(redis_url: str, fake: FakeDeepSeek, sqlite_url: str, tmp_path: Path) -> Iterator[Rig]:
    """A rig with the default deadlines."""
    with _rig(redis_url, fake, sqlite_url, tmp_path) as made:
        yield made


@pytest.fixture
def short_rig(redis_url: str, fake: FakeDeepSeek, sqlite_url: str,
              tmp_path: Path) -> Iterator[Rig]:
    """A rig whose short LLM deadline gives a short visibility timeout (for crash recovery)."""
    with _rig(redis_url, fake, sqlite_url, tmp_path, llm_total_timeout=4.0) as made:
        yield made


def _seen_states(queue: TaskQueue, task_id: str, timeout: float) -> tuple[list[str], dict]:
    """Poll until a final state; returns the distinct states seen, in order, and the last."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = queue.status(task_id)
        assert status is not None
        if not seen or seen[-1] != status["state"]:
            seen.append(status["state"])
        if status["state"] in ("SUCCESS", "FAILURE"):
            return seen, status
        time.sleep(0.02)
    pytest.fail(f"task {task_id} not final after {timeout} s; states {seen}")


# -- the happy path ----------------------------------------------------------------------------


async def test_complete_goes_from_pending_through_started_to_success(rig: Rig) -> None:
    rig.fake.configure(latency=0.5)
    rig.workers.start()
    task_id = rig.queue.submit_complete("山门前的晨雾", user_id="p-1")
    seen, final = _seen_states(rig.queue, task_id, 20.0)
    assert seen[0] in ("PENDING", "STARTED")
    assert "STARTED" in seen  # task_track_started
    assert final["state"] == "SUCCESS"
    result = final["result"]
    assert result["degraded"] is False
    assert "山门前的晨雾" in result["text"]  # the fake echoes the prompt
    assert result["model"] and result["usage"]["total_tokens"] > 0
    assert rig.fake.stats()["chat"] == 1
    # All state is in Redis: a second producer (the other app) reads the same task, both faces.
    other, async_other = TaskQueue(rig.settings), AsyncTaskQueue(rig.settings)
    try:
        assert other.status(task_id) == final
        assert await async_other.status(task_id) == final
        assert await async_other.await_result(task_id, 5.0) == final
    finally:
        other.close()
        await async_other.close()


async def test_async_submit_and_wait(rig: Rig) -> None:
    rig.fake.configure(latency=0.3)
    rig.workers.start(concurrency=8)
    queue = AsyncTaskQueue(rig.settings)
    try:
        ids = [await queue.submit_complete(f"第{i}问") for i in range(8)]
        results = [await queue.await_result(t, 20.0) for t in ids]
    finally:
        await queue.close()
    assert [r["state"] for r in results] == ["SUCCESS"] * 8
    assert all(f"第{i}问" in r["result"]["text"] for i, r in enumerate(results))


# -- failures ----------------------------------------------------------------------------------


def test_upstream_failure_in_strict_mode_ends_in_failure_with_the_error(rig: Rig) -> None:
    rig.fake.configure(fault="500")
    rig.workers.start()
    task_id = rig.queue.submit_complete("问", strict=True)
    final = rig.queue.await_result(task_id, 30.0)
    assert final["state"] == "FAILURE"
    assert final["error"] == "LLMCallFailed: LLMStatusError: HTTP 500: Server Error"
    assert "result" not in final
    # The client retried once (LLM_MAX_RETRIES=1); the task did not add attempts for a 500.
    assert rig.fake.stats()["statuses"] == {"500": 2}


def test_without_strict_the_same_failure_degrades_to_offline_text(rig: Rig) -> None:
    rig.fake.configure(fault="500")
    rig.workers.start()
    final = rig.queue.await_result(rig.queue.submit_complete("问"), 30.0)
    assert final["state"] == "SUCCESS"
    assert final["result"]["degraded"] is True
    assert final["result"]["reason"] == "status_500"
    assert final["result"]["text"]


def test_unreachable_upstream_is_retried_once_by_the_task_then_fails(
    redis_url: str, fake: FakeDeepSeek, sqlite_url: str, tmp_path: Path
) -> None:
    from tests.conftest import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    with _rig(redis_url, fake, sqlite_url, tmp_path, deepseek_base_url=dead) as rig:
        rig.workers.start()
        seen, final = _seen_states(rig.queue, rig.queue.submit_complete("问", strict=True), 30.0)
        assert "RETRY" in seen
        assert final["state"] == "FAILURE"
        assert final["error"].startswith("LLMCallFailed: LLMConnectionError: ")


def test_unknown_task_id_is_none(rig: Rig) -> None:
    assert rig.queue.status(str(uuid.uuid4())) is None


# -- crashes -----------------------------------------------------------------------------------


def test_worker_killed_mid_task_is_finished_by_a_second_worker(short_rig: Rig) -> None:
    rig = short_rig
    rig.fake.configure(latency=2.5)
    first = rig.workers.start()
    task_id = rig.queue.submit_complete("劫后余生")
    wait_for(lambda: rig.fake.stats()["in_flight"] >= 1, 15.0, "the upstream call to start")
    assert rig.queue.status(task_id)["state"] == "STARTED"
    first.kill()  # SIGKILL: the message stays unacknowledged in Redis

    second = rig.workers.start()
    # Redis hands the message to another worker once the visibility timeout has passed.
    t = task_timings(rig.settings)
    final = rig.queue.await_result(task_id, t.visibility_timeout + t.restore_interval + 20.0)
    assert final["state"] == "SUCCESS"
    assert final["result"]["degraded"] is False
    assert "劫后余生" in final["result"]["text"]
    assert rig.fake.stats()["chat"] == 2  # once by the killed worker, once by the second
    assert task_id in second.log()


def test_pool_child_killed_mid_task_is_requeued_at_once(rig: Rig) -> None:
    rig.fake.configure(latency=2.0)
    worker = rig.workers.start(pool="processes", concurrency=1)
    task_id = rig.queue.submit_complete("再入轮回")
    wait_for(lambda: rig.fake.stats()["in_flight"] >= 1, 15.0, "the upstream call to start")
    (child,) = worker.pool_children()
    os.kill(child, signal.SIGKILL)  # WorkerLostError: rejected and requeued, not failed
    final = rig.queue.await_result(task_id, 30.0)
    assert final["state"] == "SUCCESS", worker.log()
    assert "再入轮回" in final["result"]["text"]
    assert rig.fake.stats()["chat"] == 2


# -- narration into the store ------------------------------------------------------------------


def _player_with_entry(settings: Settings, world: Any) -> tuple[str, dict[str, Any]]:
    """A real new player in the store; returns its id and its entry-0 narration request."""
    from shared.game import new_player
    from shared.store import NewLogEntry, open_store

    outcome = new_player(world, "林风", 7)
    request = outcome.narration.to_dict()
    player_id = f"p-{uuid.uuid4().hex[:8]}"
    store = open_store(settings.database_url)
    try:
        store.init_schema()
        store.create_player(player_id, "hash", outcome.state.to_dict(), NewLogEntry(
            seq=0, action={"type": "create"}, outcome=outcome.to_dict(),
            narration_request=request))
    finally:
        store.close()
    return player_id, request


def _entry(settings: Settings, player_id: str, seq: int) -> Any:
    from shared.store import open_store

    store = open_store(settings.database_url)
    try:
        return next(e for e in store.list_log(player_id, 10) if e.seq == seq)
    finally:
        store.close()


def test_narration_task_records_in_the_store_and_is_idempotent(rig: Rig, world: Any) -> None:
    player_id, request = _player_with_entry(rig.settings, world)
    rig.fake.configure(latency=0.2)
    rig.workers.start()
    assert _entry(rig.settings, player_id, 0).narration is None

    final = rig.queue.await_result(
        rig.queue.submit_narration(player_id, 0, request, user_id=player_id), 20.0)
    assert final["state"] == "SUCCESS", final
    told = final["result"]
    assert told["degraded"] is False and told["replayed"] is False
    entry = _entry(rig.settings, player_id, 0)
    assert entry.narration == told["text"]
    assert entry.degraded is False
    assert rig.fake.stats()["chat"] == 1
    assert rig.fake.stats()["last_request"]["body"]["user_id"] == player_id

    # The same turn again (a redelivery, a double submit): the stored prose, no second call.
    again = rig.queue.await_result(rig.queue.submit_narration(player_id, 0, request), 20.0)
    assert again["state"] == "SUCCESS"
    assert again["result"]["replayed"] is True
    assert again["result"]["text"] == told["text"]
    assert rig.fake.stats()["chat"] == 1


def test_narration_of_a_missing_entry_fails_clearly(rig: Rig, world: Any) -> None:
    player_id, request = _player_with_entry(rig.settings, world)
    rig.workers.start()
    final = rig.queue.await_result(rig.queue.submit_narration(player_id, 5, request), 20.0)
    assert final["state"] == "FAILURE"
    assert final["error"] == f"NarrationTargetMissing: player {player_id!r} has no log entry 5"
    assert rig.fake.stats()["chat"] == 0
