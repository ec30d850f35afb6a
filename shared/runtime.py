"""Build what an app serves with: world, store, LLM client, narrator, task queue, handler.

One place for the wiring, with a blocking face (Flask) and an awaiting face (Quart), so the
two apps cannot drift in how they load data, pick a backend or degrade without an API key.
Nothing here runs at import; the app factories call these at start-up.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

from shared.config import ConfigError, Settings
from shared.limits.counters import open_async_counters, open_counters
from shared.logging_setup import add_secret, get_logger
from shared.usecases import AsyncEffects, GameContext, SyncEffects

log = get_logger("runtime")


@dataclass
class Runtime:
    """Everything a running app needs, kept in ``app.extensions["xianxia"]``."""

    app_name: str
    settings: Settings
    backend: str
    world: Any
    ctx: GameContext
    narrator: Any
    client: Any = None
    store: Any = None
    tasks: Any = None
    effects: Any = None
    limits: Any = None  # shared.limits counters (store or Redis)


def prepare(app_name: str, settings: Settings) -> Runtime:
    """The I/O-free part: validate the backend, load the world (fails on bad data), narrator."""
    from shared.ai.deepseek_client import DeepSeekClient
    from shared.ai.narrator import Narrator
    from shared.data import load_world
    from shared.game.narration import PromptBook

    backend = settings.backend_for(app_name)  # unknown values stop start-up here
    gc_thresholds(settings.gc_threshold)  # so does a malformed GC_THRESHOLD
    add_secret(settings.deepseek_api_key)
    world = load_world(settings.data_dir)
    client = DeepSeekClient(settings) if settings.llm_enabled else None
    narrator = Narrator(PromptBook(world), settings, client, backend=backend)
    ctx = GameContext(world=world, settings=settings, deferred_narration=backend == "celery")
    log.info(
        "%s ready to open: backend=%s llm=%s model=%s store=%s",
        app_name, backend, "online" if client else "offline", settings.deepseek_model,
        settings.database_url.split(":", 1)[0],
    )
    return Runtime(app_name, settings, backend, world, ctx, narrator, client)


def open_sync(app_name: str, settings: Settings) -> Runtime:
    """Flask: the sync store and the blocking handler."""
    from shared.store import open_store
    from shared.tasks.queue import TaskQueue

    rt = prepare(app_name, settings)
    # Typed locals: mypy checks each face against what the handler needs of it.
    tasks = TaskQueue(settings) if rt.backend == "celery" else None
    store = open_store(settings.database_url)
    rt.tasks, rt.store = tasks, store
    store.init_schema()
    rt.limits = open_counters(settings, store)
    rt.effects = SyncEffects(store, rt.narrator, tasks, rt.limits)
    return rt


def close_sync(rt: Runtime) -> None:
    """Release the sync resources."""
    if rt.client is not None:
        rt.client.close()
    if rt.tasks is not None:
        rt.tasks.close()
        rt.tasks = None
    if rt.limits is not None:
        rt.limits.close()
        rt.limits = None
    if rt.store is not None:
        rt.store.close()
        rt.store = None  # closing twice (test teardown, then atexit) is harmless


async def open_async(rt: Runtime) -> Runtime:
    """Quart: open the async store and the awaiting handler (inside the serving loop)."""
    from shared.ai.narrator import AsyncNarrator
    from shared.store import open_async_store
    from shared.tasks.queue import AsyncTaskQueue

    # Typed locals: mypy checks each face against what the handler needs of it.
    tasks: AsyncTaskQueue | None = rt.tasks
    if rt.backend == "celery" and tasks is None:
        tasks = AsyncTaskQueue(rt.settings)
    store = open_async_store(rt.settings.database_url)
    rt.tasks, rt.store = tasks, store
    await store.init_schema()
    n = rt.narrator
    narrator = AsyncNarrator(n.prompts, n.settings, n.client, backend=n.backend)
    rt.limits = open_async_counters(rt.settings, store)
    rt.effects = AsyncEffects(store, narrator, tasks, rt.limits)
    return rt


async def close_async(rt: Runtime) -> None:
    """Release the async resources (the shared HTTP client, the engine)."""
    if rt.client is not None:
        await rt.client.aclose()  # closes the sync pool too
    if rt.tasks is not None:
        await rt.tasks.close()
        rt.tasks = None
    if rt.limits is not None:
        await rt.limits.close()
        rt.limits = None
    if rt.store is not None:
        await rt.store.close()
        rt.store = None




_frozen = False  # gc.freeze() once per process: later calls would pin later objects too


def gc_thresholds(value: str) -> tuple[int, int, int] | None:
    """``"g0,g1,g2"`` as the collector's thresholds; None for "" (Python's own)."""
    if not value.strip():
        return None
    try:
        parts = tuple(int(p) for p in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or parts[0] < 1 or min(parts) < 0:
        raise ConfigError(f"GC_THRESHOLD={value!r}: three counts, e.g. 20000,20,50")
    return parts[0], parts[1], parts[2]


def tune_gc(settings: Settings) -> None:
    """Tune the cyclic collector for serving: everything alive after start-up (the world,
    modules, compiled statements) is frozen out of every later collection, and the
    thresholds of ``GC_THRESHOLD`` apply.

    Why (measured with gc.callbacks in the serving process, 2,000 requests at 500 in flight,
    fake upstream 1 s): with Python's 700,10,10 the collector took 1.2-1.7 s of the phase,
    of which 0.65-1.0 s in 5-6 full collections of ~0.15 s that stopped the loop. Frozen and
    at 20000,20,50 (the default): 13 young and 1 middle collection, 0.38-0.49 s, no full
    one; /api/llm 255 -> 300-330 req/s and actions 197-210 -> 245-255/s in one session.
    Nearly all request garbage is freed by reference counting; the collector only has to
    find cycles, and it still does, less often. The bound is memory: what waits for the next
    collection is resident, so ``devtools.bench rss`` (RSS after 20,000 actions against after
    1,000) gave +2.1% here, +5.7% at 50000,50,100 and +10.4% at 100000,50,100 (which cut
    the collector's time to 0.18 s).
    """
    from shared import metrics

    metrics.watch_gc()  # xianxia_gc_seconds_total: what the collector costs, on /metrics
    thresholds = gc_thresholds(settings.gc_threshold)
    if thresholds is not None:
        gc.set_threshold(*thresholds)
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()  # garbage of start-up goes now, not into the frozen generation
        gc.freeze()


def export_metrics(rt: Runtime) -> tuple[bytes, str]:
    """Prometheus text for ``/metrics``: refresh the gauges read from the client, then render."""
    from shared import metrics

    if rt.client is not None:
        metrics.set_breaker_state(rt.client.breaker.state)
    return metrics.render()
