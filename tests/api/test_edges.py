"""Odd requests get the same clear answer from both apps (issue 11, items 4-11): the same
status and the same body bytes, the JSON envelope, never a 500, and nothing stored."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from shared.errors import Conflict, RateLimited
from shared.store import StoreError
from tests.api.conftest import AppPair

JSON = {"Content-Type": "application/json"}
JSON_ROUTES = ("/api/players", "/api/players/{pid}/actions", "/api/llm", "/api/llm/tasks")


async def _player(pair: AppPair) -> tuple[str, dict[str, str]]:
    pid, token, _ = await pair.flask.create_player()
    return pid, {"Authorization": f"Bearer {token}"}


# -- item 4: deeply nested JSON -------------------------------------------------------------

@pytest.mark.parametrize("route", JSON_ROUTES)
async def test_deeply_nested_json_is_400_not_500(pair: AppPair, route: str) -> None:
    pid, auth = await _player(pair)
    body = b"[" * 1000 + b"]" * 1000  # ~2 KB, deeper than the parser's recursion
    for doc in (body, b'{"name": ' + body + b"}"):
        r = await pair.same("POST", route.format(pid=pid), data=doc, headers={**JSON, **auth})
        assert r.status == 400, r.text
        assert r.json["error"]["code"] == "malformed_json"


# -- item 5: ids that cannot exist, and store failures that must not leak ----------------------

@pytest.mark.parametrize("bad_id", ["x\x00", "x%00", "A" * 32, "0" * 31, "0" * 33, "é" * 32,
                                    "x'--", "a-b", "a" * 500])
async def test_impossible_player_ids_are_404_before_the_store(
    pair: AppPair, bad_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, auth = await _player(pair)

    def _asked(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the store was asked about an impossible id")

    for rt in (pair.flask_runtime, pair.quart_runtime):
        for method in ("get_player", "get_player_with_recent", "list_log"):
            monkeypatch.setattr(rt.store, method, _asked)
    for method, suffix, body in (("GET", "", None), ("GET", "/log", None),
                                 ("POST", "/actions", {"type": "rest"})):
        r = await pair.same(method, f"/api/players/{bad_id}{suffix}", headers=auth,
                            json_body=body)
        assert r.status == 404
        assert r.json == {"error": {"code": "player_not_found", "message": "找不到这位修士。"}}


async def test_nul_in_a_player_id_on_postgres_is_404(pair_pg: AppPair) -> None:
    _, auth = await _player(pair_pg)
    r = await pair_pg.same("GET", "/api/players/x%00", headers=auth)
    assert r.status == 404 and r.json["error"]["code"] == "player_not_found"
    r = await pair_pg.same("GET", "/api/players/" + "0" * 31 + "\x00", headers=auth)
    assert r.status == 404


async def test_store_failure_message_names_no_database(pair: AppPair,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pid, auth = await _player(pair)
    secret = ("postgresql://admin:hunter2@db.internal:5432/game: "
              "psycopg.OperationalError: connection refused")

    def _down(*args: Any, **kwargs: Any) -> Any:
        raise StoreError(secret)

    async def _adown(*args: Any, **kwargs: Any) -> Any:
        raise StoreError(secret)

    monkeypatch.setattr(pair.flask_runtime.store, "get_player", _down)
    monkeypatch.setattr(pair.quart_runtime.store, "get_player", _adown)
    r = await pair.same("GET", f"/api/players/{pid}", headers=auth)
    assert r.status == 503
    assert r.json == {"error": {"code": "store_unavailable",
                                "message": "存档暂时无法访问，请稍后再试。"}}
    for word in ("postgres", "psycopg", "hunter2", "db.internal", "5432", "Operational"):
        assert word not in r.text


# -- item 6: existence is not leaked ---------------------------------------------------------

async def test_wrong_token_and_unknown_id_get_the_same_answer(pair: AppPair) -> None:
    pid, _ = await _player(pair)
    _, other = await _player(pair)
    answers = set()
    for path in (f"/api/players/{pid}", f"/api/players/{'f' * 32}"):
        for headers in (other, {"Authorization": "Bearer pt_guess"}):
            r = await pair.same("GET", path, headers=headers)
            answers.add((r.status, r.body))
            r = await pair.same("GET", path + "/log", headers=headers)
            answers.add((r.status, r.body))
            r = await pair.same("POST", path + "/actions", headers=headers,
                                json_body={"type": "rest"})
            answers.add((r.status, r.body))
    assert len(answers) == 1, answers
    assert next(iter(answers))[0] == 404


# -- item 8: UTF-16 and UTF-8 with a BOM -----------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
async def test_json_in_any_unicode_encoding_is_read_alike(pair: AppPair, encoding: str) -> None:
    doc = json.dumps({"name": "韩立"}, ensure_ascii=False).encode(encoding)
    for api in pair.clients:
        r = await api.post("/api/players", data=doc, headers=JSON)
        assert r.status == 201, (api.app_name, r.text)
        assert r.json["player"]["name"] == "韩立"
    bad = json.dumps({"name": 7}).encode(encoding)
    r = await pair.same("POST", "/api/players", data=bad, headers=JSON)
    assert r.status == 400 and r.json["error"]["code"] == "validation_error"


# -- item 9: one query-string conversion ----------------------------------------------------

@pytest.mark.parametrize("qs", ["limit=1&limit=2", "limit[]=3", "limit[]=3&limit[]=4",
                                "before=1&before=1", "limit=x", "limit=" + "9" * 3000])
async def test_query_strings_get_one_answer(pair: AppPair, qs: str) -> None:
    pid, auth = await _player(pair)
    r = await pair.same("GET", f"/api/players/{pid}/log?{qs}", headers=auth)
    assert r.status == 400
    assert r.json["error"]["code"] == "validation_error"


@pytest.mark.parametrize(("qs", "ok"), [("prompt=a&prompt=b", False), ("prompt[]=a", False),
                                        ("prompt=" + "x" * 2001, False),
                                        ("prompt=" + quote("问" * 300), True)])
async def test_llm_get_query_strings_get_one_answer(pair: AppPair, qs: str, ok: bool) -> None:
    r = await pair.same("GET", f"/api/llm?{qs}")
    assert r.status in ((200, 401) if ok else (400, 401))


async def test_llm_post_reads_its_body_not_the_query(pair: AppPair) -> None:
    for api in pair.clients:
        r = await api.post("/api/llm?prompt=" + "x" * 2001, json_body={"prompt": "问道"})
        assert r.status in (200, 401), r.text


# -- item 10: request-line and header sizes, long ids ---------------------------------------

async def test_overlong_target_is_414_json(pair: AppPair) -> None:
    r = await pair.same("GET", "/api/players/" + "a" * 8000)
    assert r.status == 414
    assert r.json == {"error": {"code": "uri_too_long", "message": "请求的地址太长。"}}
    assert "aaaa" not in r.text
    r = await pair.same("GET", "/api/world?x=" + "y" * 5000)
    assert r.status == 414


async def test_oversized_headers_are_431_json(pair: AppPair) -> None:
    r = await pair.same("GET", "/api/world", headers={"X-Pad": "p" * 9000})
    assert r.status == 431
    assert r.json == {"error": {"code": "headers_too_large", "message": "请求头太大。"}}
    ok = await pair.same("GET", "/api/world", headers={"X-Pad": "p" * 4000})
    assert ok.status == 200


async def test_long_but_legal_target_is_not_echoed(pair: AppPair) -> None:
    r = await pair.same("GET", "/api/players/" + "b" * 3000, headers={"Authorization": "Bearer x"})
    assert r.status == 404 and "bbbb" not in r.text


# -- item 11: Retry-After, names ------------------------------------------------------------

@pytest.mark.parametrize("err", [Conflict("版本冲突"), RateLimited("请求太频繁", retry_after=7)])
async def test_409_and_429_carry_retry_after(pair: AppPair, err: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pid, auth = await _player(pair)

    def _raise(*args: Any, **kwargs: Any) -> Any:
        raise err

    async def _araise(*args: Any, **kwargs: Any) -> Any:
        raise err

    monkeypatch.setattr(pair.flask_runtime.store, "transact_player", _raise)
    monkeypatch.setattr(pair.quart_runtime.store, "transact_player", _araise)
    for api in pair.clients:
        r = await api.chat(pid, auth["Authorization"][7:])
        assert r.status == err.status, r.text
        assert r.headers["Retry-After"] == str(err.retry_after)
        assert r.json["error"]["code"] == err.code


@pytest.mark.parametrize("name", ["\u200b\u200b\u200b", "\u200b \u200d\ufeff", "\u3000\u3000",
                                  "\u2060\u180e", "\U000e0041"])
async def test_names_without_a_visible_character_are_refused(pair: AppPair, name: str) -> None:
    r = await pair.same("POST", "/api/players", json_body={"name": name})
    assert r.status == 400 and r.json["error"]["code"] == "validation_error"


async def test_idempotency_key_reused_for_another_action_is_422(pair: AppPair) -> None:
    pid, auth = await _player(pair)
    token = auth["Authorization"][7:]
    key = {"Idempotency-Key": "turn-7"}
    first = await pair.flask.chat(pid, token)
    assert first.status == 200
    first = await pair.flask.act(pid, token, {"type": "talk", "target": "li_laohan",
                                              "text": "前辈安好"}, headers=key)
    assert first.status == 200
    for api in pair.clients:
        again = await api.act(pid, token, {"type": "talk", "target": "li_laohan",
                                           "text": "前辈安好"}, headers=key)
        assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json["seq"] == first.json["seq"]
    other = await pair.same("POST", f"/api/players/{pid}/actions", headers={**auth, **key},
                            json_body={"type": "talk", "target": "li_laohan", "text": "告辞"})
    assert other.status == 422
    assert other.json["error"]["code"] == "idempotency_key_reused"
    me = await pair.flask.get(f"/api/players/{pid}", headers=auth)
    assert me.json["version"] == 2  # the refused request changed nothing


def test_idempotency_key_is_checked_whole() -> None:
    from shared.errors import BadRequest
    from shared.usecases.actions import check_idempotency_key

    assert check_idempotency_key("turn-1") == "turn-1"
    for bad in ("turn-1\n", "turn 1", "x" * 129, "键"):
        with pytest.raises(BadRequest):
            check_idempotency_key(bad)
