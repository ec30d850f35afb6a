"""A fake DeepSeek chat API for tests and benchmarks (aiohttp, on uvloop when available).

OpenAI/DeepSeek-compatible: ``POST /chat/completions`` and ``/v1/chat/completions`` (JSON
and SSE), ``GET /models``, ``GET /user/balance``. A model allow-list (400 "Model Not
Exist" otherwise), an optional API-key check (401), a configurable latency, and fault
injection, all settable at run time so one process can serve a whole test session:

    POST /_fake/config  {"latency": 1.0, "faults": ["429", "500"], "fault": null, ...}
    GET  /_fake/config  the current settings
    GET  /_fake/stats   request counts ({"requests", "chat", "streams", "faults", ...})
    GET  /_fake/requests  the last 64 chat request bodies, oldest first ({"bodies": [...]})
    POST /_fake/reset   back to the start-up settings, empty fault queue, zero counts

``faults`` is a queue: each chat request takes the next one; when it is empty ``fault``
(the default, usually null) applies. A fault is a kind, or an object with ``kind`` plus
options::

    "429"             429 JSON envelope, no Retry-After  ({"retry_after": 0.2} or
                      {"retry_after_ms": 200} adds the header); "429_retry_after" = 1 s
    "500" "503" "402" "400" "401"   the error envelopes DeepSeek sends (any status works)
    "422_text"        422 with a plain-text body (older DeepSeek deserialize errors)
    "hang"            no answer at all ({"seconds": N}, default 3600)
    "keepalive_hang"  200, then keep-alive newlines / ": keep-alive" comments forever
    "stall_body"      the headers after the latency, then not a byte of the body for
                      ``seconds`` (default 3600), then the connection closes
    "reset"           the connection is reset (RST) before any answer
    "malformed"       200 with broken JSON (a broken data chunk in streams)
    "keepalive"       blank lines before the JSON / ": keep-alive" comments in the stream
                      ({"lines": N}, default 3)
    "blank_body"      200 whose body is only newlines; "empty_body": 200 with no body
    "cut_stream"      the stream ends after some text, before finish_reason and [DONE]
                      (non-stream: half the JSON, then the end of the body)
    "insufficient"    finish_reason "insufficient_system_resource" after partial text
    "blank_content"   content of spaces with finish_reason "stop" (JSON-mode failure)

Other settings: ``latency`` (seconds before the first byte), ``chunk_delay`` (between
stream chunks), ``models``, ``api_key`` (null: no check), ``usage_position`` ("finish": on
the finish chunk as DeepSeek does; "separate": an extra ``choices: []`` chunk when
``include_usage`` was asked, as OpenAI does), ``max_concurrency`` (more chat requests in
flight than this get 429), ``keepalive_interval``.

The reply is a short Chinese narration that echoes the last user message, so tests can
tell replies apart. ``usage`` reports the context cache as DeepSeek does
(``prompt_cache_hit_tokens``): a prompt that begins with messages an earlier request of the
same ``user_id`` sent hits on them (:class:`PrefixCache`); ``/_fake/stats`` sums the hits as
``cache_hit_tokens``. CLI::

    python -m devtools.fake_deepseek --host 127.0.0.1 --port 0 --latency 1.0

prints ``READY http://127.0.0.1:<port>`` once listening. ``create_app(...)`` builds the app
for in-process use; ``devtools.procs.start_fake`` runs it as a subprocess and returns a handle
on its control endpoints.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import struct
import time
import uuid
import zlib
from collections import Counter, OrderedDict, deque
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from aiohttp import web

DEFAULT_MODELS = ("deepseek-v4-flash", "deepseek-flash", "deepseek-v4-pro")

ERROR_BODIES: dict[int, tuple[str, str, str]] = {
    400: ("Model Not Exist", "invalid_request_error", "invalid_request_error"),
    401: ("Authentication Fails, Your api key: ****{last4} is invalid",
          "authentication_error", "invalid_request_error"),
    402: ("Insufficient Balance", "unknown_error", "invalid_request_error"),
    429: ("Rate Limit Reached", "rate_limit_error", "fake_rate_limit_exceeded"),
    500: ("Server Error", "server_error", "fake_server_error"),
    503: ("Server Overloaded", "server_error", "fake_server_overloaded"),
}
PLAIN_422 = (
    "Failed to deserialize the JSON body into the target type: "
    "missing field `messages` at line 4 column 1"
)

REPLIES = (
    "你凝神细思“{echo}”，山间灵雾翻涌，一缕清光自丹田升起，周身经脉隐隐发热。",
    "“{echo}”——话音未落，远处古钟长鸣，松涛如海，天地灵气化作细雨落入你的眉心。",
    "你心念“{echo}”，洞府外月色如霜，一只白鹤掠过竹林，你隐约感到瓶颈有所松动。",
    "“{echo}”之事在识海中回荡，丹炉里的火苗忽明忽暗，似有一道玄机正待参悟。",
)

FAULT_ALIASES: dict[str, dict[str, Any]] = {
    "429_retry_after": {"kind": "429", "retry_after": 1},
}


RECORDED = 64  # chat request bodies kept for GET /_fake/requests


@dataclass
class FakeConfig:
    """Run-time settings of the fake (everything ``POST /_fake/config`` may change)."""

    latency: float = 0.0
    chunk_delay: float = 0.0
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    api_key: str | None = None
    usage_position: str = "finish"
    fault: Any = None
    max_concurrency: int | None = None
    keepalive_interval: float = 0.05


class FakeState:
    """Configuration, the fault queue and the counters of one fake server."""

    def __init__(self, config: FakeConfig) -> None:
        self.startup = FakeConfig(**asdict(config))
        self.config = config
        self.faults: deque[dict[str, Any]] = deque()
        self.reset_stats()

    def reset_stats(self) -> None:
        """Zero every counter (``in_flight`` is a live gauge: requests still running keep it)."""
        self.requests = 0
        self.chat = 0
        self.streams = 0
        self.in_flight = getattr(self, "in_flight", 0)
        self.max_in_flight = self.in_flight
        self.fault_counts: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.tokens = 0  # total_tokens of every usage object sent (what the upstream bills)
        self.cache_hit_tokens = 0  # of those prompts, the tokens the prefix cache served
        self.cache = PrefixCache()
        self.last_request: dict[str, Any] | None = None
        # The bodies of the last RECORDED chat requests, oldest first (GET /_fake/requests).
        self.recorded: deque[Any] = deque(maxlen=RECORDED)

    def reset(self) -> None:
        """Back to the start-up configuration with no queued faults and zero counts."""
        self.config = FakeConfig(**asdict(self.startup))
        self.faults.clear()
        self.reset_stats()

    def next_fault(self) -> dict[str, Any] | None:
        """The fault for the next chat request (queue first, then the default)."""
        if self.faults:
            return self.faults.popleft()
        return normalize_fault(self.config.fault)

    def stats(self) -> dict[str, Any]:
        """The counters as JSON."""
        return {
            "requests": self.requests,
            "chat": self.chat,
            "streams": self.streams,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "faults": dict(self.fault_counts),
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "tokens": self.tokens,
            "cache_hit_tokens": self.cache_hit_tokens,
            "queued_faults": len(self.faults),
            "last_request": self.last_request,
        }


def normalize_fault(fault: Any) -> dict[str, Any] | None:
    """A fault given as a kind or an object, as an object with ``kind`` (None: no fault)."""
    if fault is None or fault == "" or fault == "none":
        return None
    if isinstance(fault, (int, str)):
        kind = str(fault)
        return dict(FAULT_ALIASES.get(kind, {"kind": kind}))
    if isinstance(fault, dict) and "kind" in fault:
        out = dict(FAULT_ALIASES.get(str(fault["kind"]), {}))
        out.update(fault)
        out["kind"] = str(out["kind"])
        return out
    raise ValueError(f"bad fault: {fault!r}")


def reply_text(messages: list[dict[str, Any]]) -> str:
    """A short narration echoing the last user message (deterministic)."""
    last = ""
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m.get("content")
            last = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
            break
    echo = re.sub(r"\s+", " ", last).strip()[:24] or "此刻"
    template = REPLIES[zlib.crc32(last.encode()) % len(REPLIES)]
    return template.format(echo=echo)


def _error(status: int, message: str | None = None, last4: str = "0000") -> web.Response:
    default, etype, code = ERROR_BODIES.get(status, ("Fake Error", "fake_error", "fake_error"))
    text = (message or default).replace("{last4}", last4)
    body = {"error": {"message": text, "type": etype, "param": None, "code": code}}
    return web.Response(status=status, body=json.dumps(body).encode(),
                        content_type="application/json")


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    # The fake's tokenizer: two characters a token, four more per message.
    return sum(len(str(m.get("content") or "")) for m in messages) // 2 + 4 * len(messages)


class PrefixCache:
    """DeepSeek's context cache, as far as a client can tell it: a request hits on the part of
    its prompt an earlier request of the same ``user_id`` began with (here: its longest run of
    leading messages sent before, byte for byte), counted in whole 64-token units.

    Bounded (least recently used prefixes go first); ``POST /_fake/reset`` empties it.
    """

    UNIT = 64
    LIMIT = 100_000

    def __init__(self) -> None:
        self.prefixes: OrderedDict[bytes, None] = OrderedDict()

    def hit_tokens(self, messages: list[dict[str, Any]], user_id: Any) -> int:
        """Tokens of ``messages`` served from the cache; their prefixes are cached from now."""
        digest = hashlib.sha256(json.dumps(user_id).encode())
        hit, matching = 0, True
        for n, message in enumerate(messages, start=1):
            digest.update(json.dumps([message.get("role"), message.get("content")],
                                     ensure_ascii=False).encode())
            key = digest.copy().digest()
            if matching and key in self.prefixes:
                hit = _prompt_tokens(messages[:n])
                self.prefixes.move_to_end(key)
            else:
                matching = False
                self.prefixes[key] = None
        while len(self.prefixes) > self.LIMIT:
            self.prefixes.popitem(last=False)
        return hit - hit % self.UNIT


def _usage(messages: list[dict[str, Any]], text: str, cached: int = 0) -> dict[str, Any]:
    prompt = _prompt_tokens(messages)
    completion = max(1, len(text) // 2)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "prompt_cache_hit_tokens": cached,
        "prompt_cache_miss_tokens": prompt - cached,
    }


def _pieces(text: str, size: int = 6) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def _reset_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0: close sends RST, as a crashed gateway would.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class FakeHandlers:
    """The request handlers, over one :class:`FakeState`."""

    def __init__(self, state: FakeState) -> None:
        self.state = state

    # -- control --------------------------------------------------------------------------

    async def set_config(self, request: web.Request) -> web.Response:
        """``POST /_fake/config``: change settings; ``faults`` replaces the queue."""
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("send a JSON object")
            known = {f.name for f in fields(FakeConfig)}
            for key, value in data.items():
                if key == "faults":
                    if not isinstance(value, list):
                        raise ValueError("faults must be a list")
                    self.state.faults = deque(normalize_fault(f) or {"kind": "none"}
                                              for f in value)
                elif key in known:
                    if key == "fault":
                        normalize_fault(value)  # validate now, not on the next request
                    setattr(self.state.config, key, value)
                else:
                    raise ValueError(f"unknown setting {key!r}")
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return await self.get_config(request)

    async def get_config(self, request: web.Request) -> web.Response:
        """``GET /_fake/config``."""
        body = asdict(self.state.config)
        body["faults"] = list(self.state.faults)
        return web.json_response(body)

    async def stats(self, request: web.Request) -> web.Response:
        """``GET /_fake/stats``."""
        return web.json_response(self.state.stats())

    async def requests(self, request: web.Request) -> web.Response:
        """``GET /_fake/requests``: the recorded chat request bodies, oldest first."""
        return web.json_response({"bodies": list(self.state.recorded)})

    async def reset(self, request: web.Request) -> web.Response:
        """``POST /_fake/reset``."""
        self.state.reset()
        return web.json_response({"ok": True})

    # -- the API --------------------------------------------------------------------------

    async def models(self, request: web.Request) -> web.Response:
        """``GET /models``."""
        self.state.requests += 1
        data = [{"id": m, "object": "model", "owned_by": "deepseek"}
                for m in self.state.config.models]
        return web.json_response({"object": "list", "data": data})

    async def balance(self, request: web.Request) -> web.Response:
        """``GET /user/balance``."""
        self.state.requests += 1
        return web.json_response({"is_available": True, "balance_infos": [
            {"currency": "CNY", "total_balance": "110.00", "granted_balance": "10.00",
             "topped_up_balance": "100.00"}]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        """``POST /chat/completions``."""
        st = self.state
        st.requests += 1
        st.chat += 1
        st.in_flight += 1
        st.max_in_flight = max(st.max_in_flight, st.in_flight)
        try:
            response = await self._chat(request)
        finally:
            st.in_flight -= 1
        if response is not None:
            st.statuses[response.status] += 1
        return response

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        st, cfg = self.state, self.state.config
        auth = request.headers.get("Authorization", "")
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        st.last_request = {
            "path": request.path,
            "headers": {k: request.headers.get(k) for k in
                        ("Authorization", "Content-Type", "Accept", "User-Agent")},
            "body": body,
        }
        st.recorded.append(body)
        if cfg.api_key is not None:
            if not auth.startswith("Bearer "):
                return _error(401, "Authentication Fails (auth header format should be "
                                   "Bearer sk-...)")
            if auth[7:] != cfg.api_key:
                return _error(401, last4=auth[-4:])
        if not isinstance(body, dict):
            return web.Response(status=422, text=PLAIN_422.replace(
                "missing field `messages` at line 4 column 1", "expected value at line 1"))
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "Failed to deserialize the JSON body into the target type: "
                               "missing field `messages`")
        if body.get("model") not in cfg.models:
            return _error(400)
        stream = bool(body.get("stream"))
        if body.get("stream_options") is not None and not stream:
            return _error(400, "stream_options should be set along with stream = true")
        if cfg.max_concurrency is not None and st.in_flight > cfg.max_concurrency:
            return _error(429)

        fault = st.next_fault() or {"kind": "none"}
        kind = fault["kind"]
        if kind != "none":
            st.fault_counts[kind] += 1
        if stream:
            st.streams += 1
        latency = float(fault.get("latency", cfg.latency))

        if kind == "reset":
            _reset_connection(request)
            return web.Response(status=200)
        if kind == "hang":
            await asyncio.sleep(float(fault.get("seconds", 3600)))
            return _error(504, "fake hang ended")
        if kind in ("keepalive", "keepalive_hang"):
            return await self._keepalive(request, body, fault, latency, stream)
        if kind == "stall_body":
            return await self._stall_body(request, fault, latency, stream)
        if latency > 0:
            await asyncio.sleep(latency)
        if kind == "422_text":
            return web.Response(status=422, text=PLAIN_422)
        if kind.isdigit():
            resp = _error(int(kind), fault.get("message"))
            if "retry_after" in fault:
                resp.headers["Retry-After"] = str(fault["retry_after"])
            if "retry_after_ms" in fault:
                resp.headers["retry-after-ms"] = str(fault["retry_after_ms"])
            return resp
        if kind in ("blank_body", "empty_body"):
            text = "\n\n\n\n" if kind == "blank_body" else ""
            return web.Response(status=200, text=text,
                                content_type="text/event-stream" if stream else "application/json")
        if stream:
            return await self._stream(request, body, kind)
        return web.Response(status=200, body=self._json(body, kind),
                            content_type="application/json")

    def _completion(self, body: dict[str, Any], kind: str) -> tuple[str, str | None, str]:
        """(text, reasoning, finish_reason) for a request under a fault kind."""
        text = reply_text(body["messages"])
        finish = "stop"
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int) and 0 < max_tokens < len(text):
            text, finish = text[:max_tokens], "length"
        if kind == "insufficient":
            text, finish = text[: max(1, len(text) // 3)], "insufficient_system_resource"
        elif kind == "blank_content":
            text = "   "
        thinking = (body.get("thinking") or {}).get("type", "enabled") == "enabled"
        reasoning = "先推演此事的因果，再落笔成文。" if thinking else None
        return text, reasoning, finish

    def _usage(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        cached = self.state.cache.hit_tokens(body["messages"], body.get("user_id"))
        self.state.cache_hit_tokens += cached
        return _usage(body["messages"], text, cached)

    def _json(self, body: dict[str, Any], kind: str) -> bytes:
        text, reasoning, finish = self._completion(body, kind)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if reasoning:
            message["reasoning_content"] = reasoning
        payload = {
            "id": str(uuid.uuid4()),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish}],
            "usage": self._usage(body, text),
        }
        if kind not in ("malformed", "cut_stream"):
            self.state.tokens += payload["usage"]["total_tokens"]
        data = json.dumps(payload, ensure_ascii=False).encode()
        if kind == "malformed":
            data = data[: len(data) // 2] + b"}}]"
        elif kind == "cut_stream":
            data = data[: len(data) // 2]
        return data

    async def _stream(self, request: web.Request, body: dict[str, Any], kind: str,
                      resp: web.StreamResponse | None = None) -> web.StreamResponse:
        cfg = self.state.config
        text, reasoning, finish = self._completion(body, kind)
        if resp is None:
            resp = web.StreamResponse(status=200, headers={
                "Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
            await resp.prepare(request)
        cid = uuid.uuid4().hex
        base = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body["model"], "system_fingerprint": "fp_fake"}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        usage = self._usage(body, text)

        def event(choices: list[dict[str, Any]], usage_value: Any = None) -> bytes:
            chunk = {**base, "choices": choices, "usage": usage_value}
            return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"

        def delta(d: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": d, "logprobs": None, "finish_reason": finish_reason}

        out = [event([delta({"role": "assistant", "content": ""})])]
        if reasoning:
            out.append(event([delta({"content": None, "reasoning_content": reasoning})]))
        pieces = _pieces(text)
        if kind == "cut_stream":
            pieces = pieces[: max(1, len(pieces) // 2)]
        out.extend(event([delta({"content": p})]) for p in pieces)
        if kind == "malformed":
            out.append(b'data: {"id": "' + cid.encode() + b'", "choices": [\n\n')
        if kind != "cut_stream":
            if kind != "malformed" and (cfg.usage_position == "finish" or include_usage):
                self.state.tokens += usage["total_tokens"]
            on_finish = usage if cfg.usage_position == "finish" else None
            out.append(event([delta({"content": "", "role": None}, finish)], on_finish))
            if cfg.usage_position == "separate" and include_usage:
                out.append(event([], usage))
            out.append(b"data: [DONE]\n\n")
        if cfg.chunk_delay > 0:
            for piece in out:
                await resp.write(piece)
                await asyncio.sleep(cfg.chunk_delay)
        else:
            await resp.write(b"".join(out))
        await resp.write_eof()
        return resp

    async def _stall_body(self, request: web.Request, fault: dict[str, Any], latency: float,
                          stream: bool) -> web.StreamResponse:
        """Late headers, then a body that never comes (a read timeout's worst case)."""
        if latency > 0:
            await asyncio.sleep(latency)
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": "text/event-stream" if stream else "application/json"})
        await resp.prepare(request)
        await resp.drain()  # the headers go out now, not with the first body byte
        await asyncio.sleep(float(fault.get("seconds", 3600)))
        return resp

    async def _keepalive(self, request: web.Request, body: dict[str, Any],
                         fault: dict[str, Any], latency: float,
                         stream: bool) -> web.StreamResponse:
        """Filler while "queued": newlines (JSON) or ``: keep-alive`` comments (SSE)."""
        cfg = self.state.config
        filler = b": keep-alive\n\n" if stream else b"\n"
        if fault["kind"] == "keepalive_hang":
            resp = web.StreamResponse(status=200, headers={
                "Content-Type": "text/event-stream" if stream else "application/json"})
            await resp.prepare(request)
            until = time.monotonic() + float(fault.get("seconds", 3600))
            interval = float(fault.get("interval", cfg.keepalive_interval))
            while time.monotonic() < until:
                await resp.write(filler)
                await asyncio.sleep(interval)
            return resp
        lines = int(fault.get("lines", 3))
        if stream:
            resp = web.StreamResponse(status=200, headers={
                "Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
            await resp.prepare(request)
            for _ in range(lines):
                await resp.write(filler)
                await asyncio.sleep(latency / lines if lines else 0)
            return await self._stream(request, body, "none", resp)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        for _ in range(lines):
            await resp.write(filler)
            await asyncio.sleep(latency / lines if lines else 0)
        await resp.write(self._json(body, "none"))
        await resp.write_eof()
        return resp


def create_app(
    *,
    latency: float = 0.0,
    models: list[str] | tuple[str, ...] = DEFAULT_MODELS,
    api_key: str | None = None,
    usage_position: str = "finish",
) -> web.Application:
    """The fake as an aiohttp application (``app["fake_state"]`` is its FakeState)."""
    state = FakeState(FakeConfig(latency=latency, models=list(models), api_key=api_key,
                                 usage_position=usage_position))
    fake = FakeHandlers(state)
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app["fake_state"] = state
    for prefix in ("", "/v1"):
        app.router.add_post(f"{prefix}/chat/completions", fake.chat)
        app.router.add_get(f"{prefix}/models", fake.models)
        app.router.add_get(f"{prefix}/user/balance", fake.balance)
    app.router.add_post("/_fake/config", fake.set_config)
    app.router.add_get("/_fake/config", fake.get_config)
    app.router.add_get("/_fake/stats", fake.stats)
    app.router.add_get("/_fake/requests", fake.requests)
    app.router.add_post("/_fake/reset", fake.reset)
    return app


async def serve(args: argparse.Namespace) -> None:
    """Run until SIGTERM/SIGINT, ``--max-seconds``, or the parent process going away."""
    app = create_app(latency=args.latency, models=args.models, api_key=args.api_key,
                     usage_position=args.usage_position)
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, backlog=4096, shutdown_timeout=1.0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"READY http://{args.host}:{port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()
    deadline = time.monotonic() + args.max_seconds if args.max_seconds else None
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        if args.exit_with_parent and os.getppid() != parent:
            break  # orphaned: the test session that started us is gone
        if deadline is not None and time.monotonic() > deadline:
            break
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    p.add_argument("--api-key", default=None, help="require this key (401 otherwise)")
    p.add_argument("--usage-position", choices=("finish", "separate"), default="finish")
    p.add_argument("--max-seconds", type=float, default=0.0, help="exit after this long")
    p.add_argument("--exit-with-parent", action="store_true")
    p.add_argument("--no-uvloop", action="store_true")
    args = p.parse_args(argv)
    if not args.no_uvloop:
        try:
            import uvloop
        except ImportError:
            uvloop = None  # type: ignore[assignment]
        if uvloop is not None:
            uvloop.run(serve(args))
            return
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
