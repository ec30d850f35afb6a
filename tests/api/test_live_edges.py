"""Edges that only real servers show (issue 11 items 7 and 10): chunked bodies over the limit
and overlong request lines or headers, on gunicorn and hypercorn, answered in the JSON
envelope with the connection still usable."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import AppServer, both_apps

pytestmark = pytest.mark.slow

# gunicorn's own limits above the app's (MAX_TARGET_CHARS 4094, MAX_HEADER_BYTES 8192), so the
# app answers every overlong request in JSON: a line limit of 0 is gunicorn's 1 MiB cap (its
# largest other value, 8190, would answer longer lines in HTML), and 32 KiB per header field.
GUNICORN_LIMITS = "--limit-request-line 0 --limit-request-field_size 32768"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, AppServer]]:
    """Both apps, on real servers, over one SQLite file, offline narrator."""
    tmp = tmp_path_factory.mktemp("live-edges")
    env = {"DATABASE_URL": f"sqlite:///{tmp / 'game.db'}", "DEEPSEEK_API_KEY": "",
           "LLM_BACKEND": "", "GUNICORN_CMD_ARGS": GUNICORN_LIMITS}
    with both_apps(env, Path(tmp)) as started:
        yield started


def _exchange(server: AppServer, payload: bytes, answers: int) -> list[tuple[int, dict, bytes]]:
    """Send raw bytes on one connection and read ``answers`` responses from it."""
    host, port = server.base_url.removeprefix("http://").split(":")
    out: list[tuple[int, dict, bytes]] = []
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(payload)
        buf = b""
        while len(out) < answers:
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                assert chunk, f"connection closed after {len(out)} answers: {buf[:200]!r}"
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {k.strip().lower(): v.strip()
                       for k, v in (line.split(":", 1) for line in lines[1:])}
            size = int(headers.get("content-length", "0"))
            while len(buf) < size:
                chunk = sock.recv(65536)
                assert chunk
                buf += chunk
            out.append((status, headers, buf[:size]))
            buf = buf[size:]
    return out


def _chunked(body: bytes, size: int = 10000) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
             for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


@pytest.mark.parametrize("kind", ["flask", "quart"])
def test_chunked_body_over_the_limit_is_413_and_the_connection_lives(
    servers: dict[str, AppServer], kind: str
) -> None:
    body = b'{"name":"pad"}' + b" " * 80_000  # valid JSON, over MAX_BODY_BYTES (64 KiB)
    request = (b"POST /api/players HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body)
               + b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    (status, headers, payload), (status2, _, payload2) = _exchange(servers[kind], request, 2)
    assert status == 413 and headers["content-type"].startswith("application/json")
    assert json.loads(payload)["error"]["code"] == "payload_too_large"
    assert status2 == 200 and json.loads(payload2)["app"] == kind
    # A small chunked body is read whole and accepted.
    ok = _exchange(servers[kind], b"POST /api/players HTTP/1.1\r\nHost: t\r\n"
                   b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n" + _chunked('{"name":"韩立"}'.encode()), 1)
    assert ok[0][0] == 201


@pytest.mark.parametrize(("request_bytes", "status", "code"), [
    (b"GET /api/players/" + b"a" * 5000 + b" HTTP/1.1\r\nHost: t\r\n", 414, "uri_too_long"),
    (b"GET /api/world?q=" + b"a" * 6000 + b" HTTP/1.1\r\nHost: t\r\n", 414, "uri_too_long"),
    (b"GET /api/world HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 9000 + b"\r\n", 431,
     "headers_too_large"),
    (b"GET /api/players/" + b"a" * 8000 + b" HTTP/1.1\r\nHost: t\r\n", 414, "uri_too_long"),
])
def test_request_line_and_header_limits_answer_json_alike(
    servers: dict[str, AppServer], request_bytes: bytes, status: int, code: str
) -> None:
    answers = {}
    for kind, server in servers.items():
        got_status, headers, payload = _exchange(server, request_bytes + b"\r\n", 1)[0]
        assert got_status == status, (kind, payload)
        assert headers["content-type"].startswith("application/json"), kind
        assert json.loads(payload)["error"]["code"] == code
        answers[kind] = payload
    assert answers["flask"] == answers["quart"]
    assert b"aaaa" not in answers["flask"]


@pytest.mark.parametrize("kind", ["quart", "flask"])
def test_a_100k_character_id_gets_json(servers: dict[str, AppServer], kind: str) -> None:
    request = b"GET /api/players/" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    status, headers, payload = _exchange(servers[kind], request, 1)[0]
    assert status == 414 and headers["content-type"].startswith("application/json")
    assert json.loads(payload) == {"error": {"code": "uri_too_long",
                                             "message": "请求的地址太长。"}}


def test_metrics_list_the_same_series_on_both_servers(servers: dict[str, AppServer]) -> None:
    """gunicorn's merged (multiprocess) /metrics lists the LLM series before their first
    sample, like hypercorn's (issue 11 item 15)."""
    families = {}
    for kind, server in servers.items():
        status, _, payload = _exchange(server, b"GET /metrics HTTP/1.1\r\nHost: t\r\n"
                                               b"Connection: close\r\n\r\n", 1)[0]
        assert status == 200
        families[kind] = {line.split()[2] for line in payload.decode().splitlines()
                          if line.startswith("# TYPE")}
    assert families["flask"] == families["quart"]
    for name in ("xianxia_llm_calls_total", "xianxia_llm_call_duration_seconds",
                 "xianxia_narrations_degraded_total", "xianxia_llm_breaker_state",
                 "xianxia_llm_budget_left_tokens"):
        assert name in families["flask"], name
