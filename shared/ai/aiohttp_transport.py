"""An httpx async transport over one shared ``aiohttp.ClientSession``.

Why: httpcore's async pool bookkeeping grows with the number of requests in flight; at
500 in flight plain ``httpx.AsyncClient`` spends several ms of CPU per call, aiohttp's
connector well under one (see scripts/bench_llm_client.py). The client keeps httpx's API;
only the bytes move through aiohttp.

The session is created on the first request, inside the running loop. Response bodies
stream as they arrive (``iter_any``), so SSE works. httpx's per-request timeouts map onto
aiohttp's: ``connect`` -> ``sock_connect``, ``read`` -> ``sock_read`` (time between reads),
``pool`` -> ``connect`` (waiting for a pooled connection, connecting included). aiohttp's
exceptions are mapped to httpx's so callers handle one family.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import aiohttp


def _map_error(exc: BaseException) -> httpx.TransportError | None:
    """The httpx exception for an aiohttp/OS failure (None: not a transport failure)."""
    import aiohttp

    msg = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(msg)
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return httpx.ReadTimeout(msg)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(msg)
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)):
        return httpx.RemoteProtocolError(msg)
    if isinstance(exc, (aiohttp.ClientConnectionError, OSError)):
        return httpx.ReadError(msg)
    if isinstance(exc, aiohttp.ClientError):
        return httpx.RemoteProtocolError(msg)
    return None


class AiohttpResponseStream(httpx.AsyncByteStream):
    """The body of an aiohttp response, as httpx reads it."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except Exception as exc:
            mapped = _map_error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        """Return the connection to the pool if the body was read, else drop it."""
        response = self._response
        if response.content.at_eof():
            response.release()
        else:
            response.close()  # a half-read body: the connection cannot be reused


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncClient(transport=AiohttpTransport(...))`` sends through aiohttp."""

    def __init__(
        self,
        *,
        max_connections: int = 512,
        keepalive_expiry: float = 30.0,
        trust_env: bool = False,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self.trust_env = trust_env
        self._session = session
        self._owns_session = session is None
        self._timeouts: dict[tuple[Any, Any, Any], Any] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            import aiohttp

            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                limit_per_host=0,  # one upstream host: the overall limit is the cap
                keepalive_timeout=self.keepalive_expiry,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes Content-Encoding itself
                trust_env=self.trust_env,
                timeout=aiohttp.ClientTimeout(total=None),
            )
            self._owns_session = True
        return self._session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        t = request.extensions.get("timeout") or {}
        key = (t.get("connect"), t.get("read"), t.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            import aiohttp

            timeout = aiohttp.ClientTimeout(
                total=None, connect=key[2], sock_connect=key[0], sock_read=key[1]
            )
            if len(self._timeouts) > 256:  # budgets vary per call: keep the cache small
                self._timeouts.clear()
            self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the shared session; the body streams lazily."""
        session = self._get_session()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        try:
            content: Any = request.content
        except httpx.RequestNotRead:
            # A streamed body (rare for us): read it, and let aiohttp frame it.
            content = await request.aread()
            headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=content or None,
                allow_redirects=False,
                timeout=self._timeout(request),
            )
        except Exception as exc:
            mapped = _map_error(exc)
            if mapped is None:
                raise
            raise mapped from exc
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=AiohttpResponseStream(response),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        """Close the session (and its connections) if this transport created it."""
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()
