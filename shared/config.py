"""Settings for both apps, read once from the environment.

Nothing here runs at import time: apps call :func:`Settings.from_env` in their factory,
tests build ``Settings(...)`` directly or override with ``replace``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

QUART_BACKENDS = ("httpx", "threadpool", "celery")
FLASK_BACKENDS = ("sync", "celery")


class ConfigError(ValueError):
    """A setting has a value the apps cannot start with."""


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class Settings:
    """Every tunable the apps read. Field ``x`` comes from env var ``X`` (see ``ENV``)."""

    # Where the world and the state live.
    data_dir: Path = REPO_ROOT / "data"
    database_url: str = f"sqlite:///{REPO_ROOT / 'var' / 'xianxia.db'}"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # The Celery queue the apps publish LLM tasks to and the worker consumes (LLM_BACKEND=celery);
    # tests and benchmarks give each run its own so they never take each other's tasks.
    celery_queue: str = "xianxia.llm"

    # DeepSeek. The key is never logged or shown in repr.
    deepseek_api_key: str | None = field(default=None, repr=False)
    deepseek_base_url: str = "https://api.deepseek.com"
    # The 2026 API retired deepseek-chat; v4-flash is the current fast model.
    deepseek_model: str = "deepseek-v4-flash"
    deepseek_thinking: bool = False
    llm_backend: str = ""  # "" = the app's default: httpx (Quart) or sync (Flask)
    llm_transport: str = "aiohttp"  # aiohttp | httpx: the async face's transport
    llm_max_concurrency: int = 512  # in-flight upstream calls per process
    llm_max_workers: int = 32  # thread pool for chat_threaded
    llm_connect_timeout: float = 5.0
    llm_read_timeout: float = 60.0
    llm_total_timeout: float = 90.0  # one deadline per call across all attempts
    llm_max_retries: int = 2
    llm_max_tokens: int = 400
    llm_temperature: float = 1.0
    breaker_failures: int = 5
    breaker_cooldown: float = 30.0

    # HTTP behaviour.
    max_body_bytes: int = 64 * 1024
    # The app's own request-line and header limits, answered as the JSON envelope (414, 431).
    # The servers' limits (gunicorn's limit_request_line, hypercorn's h11_max_incomplete_size)
    # are set above these so the app, not the server, answers.
    max_target_chars: int = 4094
    max_header_bytes: int = 8192
    player_text_max: int = 300
    action_rate_per_minute: int = 120
    log_level: str = "INFO"

    # LLM spending (tokens as the upstream reports them; 0 = no limit). When a budget is spent
    # the narrator goes offline (degraded, with a reason) and the action still counts.
    llm_player_daily_tokens: int = 100_000  # per player per UTC day
    llm_global_minute_tokens: int = 5_000_000  # the whole deployment, per minute
    llm_global_daily_tokens: int = 50_000_000  # the whole deployment, per UTC day
    # Reserved before each call so concurrent calls cannot overspend; the actual usage is
    # settled after it. Covers the prompt and LLM_MAX_TOKENS of completion.
    llm_call_reserve_tokens: int = 1500
    llm_rate_per_minute: int = 30  # /api/llm and /api/llm/tasks calls per player per minute
    create_rate_per_minute: int = 30  # new players per client address per minute (as the LB)
    # Addresses (or CIDR networks, comma-separated) of the proxies whose X-Forwarded-For is
    # believed; from anyone else the header is ignored and the peer address counts.
    trusted_proxies: str = "127.0.0.1,::1"
    # Where the limit counters live: "store" (a table of the game database) or "redis"
    # (REDIS_URL). From the environment: redis when REDIS_URL is set, unless LIMITS_BACKEND.
    limits_backend: str = "store"

    # NPC memory (issue 10): each player-NPC pair keeps its last NPC_MEMORY_EXCHANGES exchanges
    # verbatim; older ones are folded into a summary, refreshed (LLM, or an offline digest)
    # whenever it would grow past NPC_SUMMARY_CHARS characters.
    npc_memory_exchanges: int = 6
    npc_summary_chars: int = 400
    # The cyclic garbage collector's generation thresholds once an app serves (700,10,10 is
    # Python's own; Settings(gc_threshold="") leaves them untouched). Requests live for the
    # LLM call's second or more, so at Python's default every object of the hundreds in
    # flight was scanned again and again: 0.6-0.8 ms of CPU per request and full collections
    # that stopped the loop ~0.15 s each. See shared.runtime.tune_gc.
    gc_threshold: str = "20000,20,50"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``), then apply overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f.name.upper())
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _convert(f.type, raw)
            except ValueError as exc:
                raise ConfigError(f"{f.name.upper()}={raw!r}: {exc}") from None
        if "limits_backend" not in values and env.get("REDIS_URL"):
            values["limits_backend"] = "redis"
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests use this)."""
        return replace(self, **changes)

    @property
    def llm_enabled(self) -> bool:
        """True when a real upstream call may be made (a key is set)."""
        return bool(self.deepseek_api_key)

    def backend_for(self, app_name: str) -> str:
        """The LLM backend this app runs with; raises ConfigError for an unknown value."""
        allowed = QUART_BACKENDS if app_name == "quart" else FLASK_BACKENDS
        backend = self.llm_backend or allowed[0]
        if backend not in allowed:
            raise ConfigError(
                f"LLM_BACKEND={backend!r} is not supported by {app_name}; "
                f"choose one of {', '.join(allowed)}"
            )
        return backend


def _convert(type_name: Any, raw: str) -> Any:
    t = str(type_name)
    if t == "Path":
        return Path(raw)
    if t == "bool":
        return _bool(raw)
    if t == "int":
        return int(raw)
    if t == "float":
        return float(raw)
    return raw
