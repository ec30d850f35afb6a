"""The Celery configuration and the producer side of the task queue, against real Redis.

No worker runs here: results are written through Celery's own Redis result backend (what a
worker would call), so the reading side is tested on the real key layout and encoding.
Worker behaviour is in ``test_tasks_worker.py``.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from shared.ai.errors import LLMStatusError
from shared.config import Settings
from shared.errors import NotFound
from shared.tasks import (
    COMPLETE_TASK,
    NARRATE_TASK,
    AsyncTaskQueue,
    QueueUnavailable,
    TaskQueue,
    TaskTimeout,
    celery_config,
    make_celery,
    task_timings,
)
from shared.tasks.results import describe_error, looks_like_task_id, status_from_meta
from tests.conftest import free_port

pytestmark = pytest.mark.services


# -- configuration ---------------------------------------------------------------------------


def test_time_limits_sit_above_the_client_deadline_and_below_the_visibility_timeout() -> None:
    settings = Settings(llm_total_timeout=90.0)
    t = task_timings(settings)
    assert settings.llm_total_timeout < t.soft_time_limit < t.time_limit
    # A message can stay unacked for a retry's delay plus a whole run: Redis must not hand it
    # to another worker inside that window.
    assert t.visibility_timeout > t.time_limit + t.retry_delay
    assert t.restore_interval < t.visibility_timeout
    assert 0 < t.max_retries <= settings.llm_max_retries


def test_timings_follow_the_configured_deadline() -> None:
    short = task_timings(Settings(llm_total_timeout=3.0))
    long = task_timings(Settings(llm_total_timeout=300.0))
    assert short.time_limit < long.time_limit
    assert short.visibility_timeout < long.visibility_timeout
    assert long.visibility_timeout > 300.0


def test_celery_app_is_configured_for_long_llm_calls() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:6379/15", celery_queue="q-conf")
    app = make_celery(settings)
    conf = app.conf
    t = task_timings(settings)
    assert conf.broker_url == conf.result_backend == settings.redis_url
    assert conf.task_default_queue == "q-conf"
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_track_started is True
    assert conf.task_serializer == conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert conf.result_expires == t.result_ttl
    assert conf.task_soft_time_limit == t.soft_time_limit
    assert conf.task_time_limit == t.time_limit
    # Read back from the app, not from our dict: the option must reach kombu (celery#7651).
    assert conf.broker_transport_options["visibility_timeout"] == t.visibility_timeout
    assert {COMPLETE_TASK, NARRATE_TASK} <= set(app.tasks)
    assert celery_config(settings)["broker_transport_options"] == conf.broker_transport_options


def test_the_visibility_timeout_reaches_the_redis_channel(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, llm_total_timeout=7.0)
    app = make_celery(settings)
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        assert channel.visibility_timeout == task_timings(settings).visibility_timeout
        assert channel.unacked_restore_throttle == 1
    app.close()


# -- status decoding -------------------------------------------------------------------------


def test_status_shapes() -> None:
    tid = str(uuid.uuid4())
    assert status_from_meta(tid, None) == {"task_id": tid, "state": "PENDING"}
    assert status_from_meta(tid, {"status": "STARTED", "result": {"pid": 1}}) == {
        "task_id": tid, "state": "STARTED"}
    assert status_from_meta(tid, {"status": "SUCCESS", "result": {"text": "道"}}) == {
        "task_id": tid, "state": "SUCCESS", "result": {"text": "道"}}
    failed = {"status": "FAILURE",
              "result": {"exc_type": "LLMStatusError", "exc_message": ["HTTP 500: boom"]}}
    assert status_from_meta(tid, failed) == {
        "task_id": tid, "state": "FAILURE", "error": "LLMStatusError: HTTP 500: boom"}
    assert status_from_meta(tid, {"status": "REVOKED", "result": None})["state"] == "FAILURE"
    retry = {"status": "RETRY", "result": {"exc_type": "LLMConnectionError", "exc_message": []}}
    assert status_from_meta(tid, retry) == {
        "task_id": tid, "state": "RETRY", "error": "LLMConnectionError"}


def test_describe_error_of_odd_payloads() -> None:
    assert describe_error("plain") == "plain"
    assert describe_error({"exc_type": "X", "exc_message": "y"}) == "X: y"


def test_task_id_shape() -> None:
    assert looks_like_task_id(str(uuid.uuid4()))
    assert not looks_like_task_id("../../etc/passwd")
    assert not looks_like_task_id("")
    assert not looks_like_task_id("x" * 36)


# -- the queue against real Redis ------------------------------------------------------------


@pytest.fixture
def queue(redis_url: str) -> Iterator[TaskQueue]:
    """A queue on its own Celery queue name (no worker consumes it)."""
    name = f"test-q-{uuid.uuid4().hex[:8]}"
    q = TaskQueue(Settings(redis_url=redis_url, celery_queue=name))
    try:
        yield q
    finally:
        redis.Redis.from_url(redis_url).delete(
            name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
        q.close()


def _store(q: TaskQueue, task_id: str, result: object, state: str) -> None:
    """Write a result exactly as a worker's result backend does."""
    q.celery.backend.store_result(task_id, result, state)


def test_submit_is_pending_and_queued_on_the_configured_queue(
    queue: TaskQueue, redis_url: str
) -> None:
    task_id = queue.submit_complete("问道", user_id="p1")
    assert looks_like_task_id(task_id)
    assert queue.status(task_id) == {"task_id": task_id, "state": "PENDING"}
    # The message sits on this queue, in Celery's JSON protocol, with our arguments.
    r = redis.Redis.from_url(redis_url)
    assert r.llen(queue.settings.celery_queue) == 1
    import json

    message = json.loads(r.lindex(queue.settings.celery_queue, 0))
    assert message["headers"]["task"] == COMPLETE_TASK
    assert message["headers"]["id"] == task_id
    assert message["content-type"] == "application/json"


def test_unknown_and_malformed_ids_are_none(queue: TaskQueue) -> None:
    assert queue.status(str(uuid.uuid4())) is None
    assert queue.status("not-a-task") is None
    with pytest.raises(NotFound):
        queue.await_result(str(uuid.uuid4()), 1.0)


def test_celery_pending_for_an_unknown_id_is_not_trusted(queue: TaskQueue) -> None:
    # The reason for the issued-id record: Celery itself calls any id PENDING.
    unknown = str(uuid.uuid4())
    assert queue.celery.AsyncResult(unknown).state == "PENDING"
    assert queue.status(unknown) is None


def test_issued_record_expires_with_the_results(queue: TaskQueue, redis_url: str) -> None:
    task_id = queue.submit_narration("p1", 3, {"kind": "explore", "facts": {}})
    ttl = redis.Redis.from_url(redis_url).ttl(f"xianxia:llm-task:{task_id}")
    assert 0 < ttl <= task_timings(queue.settings).result_ttl


def test_success_and_failure_are_read_back(queue: TaskQueue) -> None:
    ok_id = queue.submit_complete("a")
    _store(queue, ok_id, {"text": "剑气纵横", "degraded": False}, "SUCCESS")
    assert queue.status(ok_id) == {
        "task_id": ok_id, "state": "SUCCESS", "result": {"text": "剑气纵横", "degraded": False}}
    bad_id = queue.submit_complete("b")
    _store(queue, bad_id, LLMStatusError(500, "upstream exploded"), "FAILURE")
    status = queue.status(bad_id)
    assert status is not None
    assert status["state"] == "FAILURE"
    assert status["error"] == "LLMStatusError: HTTP 500: upstream exploded"
    assert queue.await_result(bad_id, 1.0) == status


def test_await_result_waits_for_a_late_result(queue: TaskQueue) -> None:
    task_id = queue.submit_complete("a")
    timer = threading.Timer(0.3, _store, (queue, task_id, {"text": "成"}, "SUCCESS"))
    timer.start()
    try:
        done = queue.await_result(task_id, 10.0)
    finally:
        timer.cancel()
    assert done["state"] == "SUCCESS"
    assert done["result"] == {"text": "成"}


def test_await_result_times_out(queue: TaskQueue) -> None:
    task_id = queue.submit_complete("a")
    started = time.monotonic()
    with pytest.raises(TaskTimeout) as info:
        queue.await_result(task_id, 0.3)
    assert info.value.status == 504
    assert time.monotonic() - started < 5.0


def test_an_unreachable_broker_is_a_503_not_a_hang() -> None:
    q = TaskQueue(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    try:
        with pytest.raises(QueueUnavailable) as info:
            q.submit_complete("a")
        assert info.value.status == 503
        assert q.ping() is False
    finally:
        q.close()


# -- the async face --------------------------------------------------------------------------


@pytest.fixture
async def aq(queue: TaskQueue) -> AsyncIterator[AsyncTaskQueue]:
    """The async face over the ``queue`` fixture."""
    face = AsyncTaskQueue(queue.settings, queue=queue)
    try:
        yield face
    finally:
        await face.close()


async def test_async_face_reads_what_the_sync_face_wrote(
    queue: TaskQueue, aq: AsyncTaskQueue
) -> None:
    task_id = await aq.submit_narration("p9", 1, {"kind": "rest", "facts": {}})
    assert await aq.status(task_id) == {"task_id": task_id, "state": "PENDING"}
    assert queue.status(task_id) == {"task_id": task_id, "state": "PENDING"}
    assert await aq.status(str(uuid.uuid4())) is None
    assert await aq.status("nope") is None


async def test_many_async_waiters_share_one_listener(queue: TaskQueue, aq: AsyncTaskQueue) -> None:
    ids = [await aq.submit_complete(f"p{i}") for i in range(30)]

    async def finish_later() -> None:
        await asyncio.sleep(0.2)
        for i, task_id in enumerate(ids):
            await asyncio.to_thread(_store, queue, task_id, {"text": str(i)}, "SUCCESS")

    finisher = asyncio.create_task(finish_later())
    results = await asyncio.gather(*(aq.await_result(t, 10.0) for t in ids))
    await finisher
    assert [r["result"]["text"] for r in results] == [str(i) for i in range(30)]
    assert all(r["state"] == "SUCCESS" for r in results)


async def test_async_await_times_out_and_404s(queue: TaskQueue, aq: AsyncTaskQueue) -> None:
    task_id = await aq.submit_complete("a")
    with pytest.raises(TaskTimeout):
        await aq.await_result(task_id, 0.2)
    with pytest.raises(NotFound):
        await aq.await_result(str(uuid.uuid4()), 0.2)
    with pytest.raises(NotFound):
        await aq.await_result("junk", 0.2)
    # The timed-out waiter left nothing behind.
    assert aq._async_side().waiter._waiters == {}


async def test_a_result_the_subscription_missed_is_found_by_the_sweep(
    queue: TaskQueue, aq: AsyncTaskQueue, redis_url: str
) -> None:
    task_id = await aq.submit_complete("a")
    meta_key = queue.celery.backend.get_key_for_task(task_id)
    payload = queue.celery.backend.encode(
        {"status": "SUCCESS", "result": {"text": "静"}, "task_id": task_id})

    async def store_silently() -> None:
        await asyncio.sleep(0.2)
        # A plain SET, no PUBLISH: as if the message was lost during a reconnect.
        await asyncio.to_thread(redis.Redis.from_url(redis_url).set, meta_key, payload, ex=60)

    writer = asyncio.create_task(store_silently())
    done = await aq.await_result(task_id, 10.0)
    await writer
    assert done == {"task_id": task_id, "state": "SUCCESS", "result": {"text": "静"}}


async def test_a_result_stored_before_the_wait_is_read_back(
    queue: TaskQueue, aq: AsyncTaskQueue
) -> None:
    task_id = await aq.submit_complete("a")
    _store(queue, task_id, {"text": "早"}, "SUCCESS")
    done = await aq.await_result(task_id, 5.0)
    assert done == {"task_id": task_id, "state": "SUCCESS", "result": {"text": "早"}}
    assert aq._async_side().waiter._waiters == {}


async def test_more_callers_than_redis_connections_wait_for_one(
    queue: TaskQueue, aq: AsyncTaskQueue
) -> None:
    from shared.tasks.queue import REDIS_CONNECTIONS

    task_id = await aq.submit_complete("a")
    callers = 10 * REDIS_CONNECTIONS  # as at hundreds of requests in flight
    statuses = await asyncio.gather(*(aq.status(task_id) for _ in range(callers)))
    assert statuses == [{"task_id": task_id, "state": "PENDING"}] * callers
