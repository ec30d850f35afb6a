"""Two minimal apps for the route comparison of ``devtools.bench routes`` (never shipped).

- :func:`create_seed_quart`: the seed plan's route example as it reads, on Quart:
  ``POST /api/llm {"prompt"}`` awaits ``DeepSeekClient.chat_async`` on one shared client and
  returns ``{"text"}``; no player, no token, no budgets, no store.
- :func:`create_flask_async`: the same route as an ``async def`` Flask view. Flask runs each
  request of an async view in a fresh event loop inside the sync worker's thread (asgiref's
  ``async_to_sync``), so the client's connection pool, which belongs to a loop, is opened
  again for every request; the sync worker still serves one request at a time.

Both read ``DEEPSEEK_BASE_URL`` and ``DEEPSEEK_API_KEY`` (the fake upstream), and answer
``GET /readyz`` so :func:`devtools.procs.start_app` can wait for them.
"""

from __future__ import annotations

import os
from typing import Any

from shared.ai import DeepSeekClient
from shared.config import Settings


def _client() -> DeepSeekClient:
    return DeepSeekClient(Settings(
        deepseek_api_key=os.environ.get("DEEPSEEK_API_KEY", "sk-bench"),
        deepseek_base_url=os.environ["DEEPSEEK_BASE_URL"],
        llm_max_concurrency=1000, llm_total_timeout=120.0, llm_read_timeout=60.0,
        log_level="WARNING",
    ))


def create_seed_quart() -> Any:
    """The seed plan's example route on Quart (one client for the process)."""
    from quart import Quart, request

    app = Quart("seed_route")
    client = _client()

    @app.post("/api/llm")
    async def llm() -> dict[str, str]:
        data = await request.get_json()
        result = await client.chat_async(data["prompt"])
        return {"text": result.text}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def create_flask_async() -> Any:
    """The same route as an ``async def`` Flask view (needs Flask's ``async`` extra)."""
    from flask import Flask, request

    app = Flask("flask_async_route")
    client = _client()  # its async pool is rebuilt on each request's new loop

    @app.post("/api/llm")
    async def llm() -> dict[str, str]:
        data = request.get_json()
        result = await client.chat_async(data["prompt"])
        return {"text": result.text}

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ok"}

    return app
