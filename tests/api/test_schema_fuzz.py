"""A bounded schemathesis pass (issue 11 item 15): cases generated from quart_app's
``/openapi.json`` on a real hypercorn server, each replayed on a real legacy_flask (gunicorn)
server. Fails on a server error, an undocumented status, a body or header that breaks the
schema, a schema-violating request that is not refused, or any difference between the two
apps' answers.

Two passes, each over a pair of servers with their own databases (so counters such as the
creation limit advance in step):

* anonymous, both apps in Celery mode (the task routes answer from Redis; no worker is needed
  for ids never issued), positive and negative cases for every operation;
* as a player: the same seeded player (fixed id and token) in both databases, its id and
  token in every case, inline offline narration (deterministic), positive cases.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth

from tests.api.test_live_edges import GUNICORN_LIMITS
from tests.support.servers import AppServer, start_app_server

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 16
# Bodies that differ between the apps by design: the app's name and its LLM backend, and
# what a new player rolls (random id, token and root).
_VARIABLE = {"/healthz", "/readyz", "/api/players"}
# What a schema-violating request may get: schemathesis' default list plus an overlong target
# (414), headers too large (431) and a body too large (413), which this API answers first.
REJECTIONS = ("400", "401", "403", "404", "405", "406", "409", "413", "414", "415", "422",
              "428", "429", "431")
# What a schema-valid request may get: success, or a refusal that is about the state, not the
# request (no such player, the rules refuse the action now (422), a limit reached).
ACCEPTANCES = ("2XX", "401", "403", "404", "409", "422", "429")
PLAYER_ID = "f0220000000000000000000000000001"
PLAYER_TOKEN = "pt_fuzz-player-token-000000000001"

CASES: list[tuple[str, str, int]] = []


def _start_pair(tmp: Path, extra: dict[str, str], seed: bool) -> dict[str, AppServer]:
    started: dict[str, AppServer] = {}
    try:
        for kind in ("quart", "flask"):
            db = tmp / f"{kind}.db"
            if seed:
                _seed_player(db)
            env = {"DATABASE_URL": f"sqlite:///{db}", "DEEPSEEK_API_KEY": "",
                   "LIMITS_BACKEND": "store", "GUNICORN_CMD_ARGS": GUNICORN_LIMITS, **extra}
            started[kind] = start_app_server(kind, env, tmp)
    except BaseException:
        for server in started.values():
            server.stop()
        raise
    return started


def _seed_player(db: Path) -> None:
    """The same player in each database, as POST /api/players would write it."""
    from shared.config import Settings
    from shared.data import load_world
    from shared.store import open_store
    from shared.usecases import GameContext, SyncEffects, drive_sync
    from shared.usecases.identity import Identity
    from shared.usecases.players import create_player

    settings = Settings(database_url=f"sqlite:///{db}")
    store = open_store(settings.database_url)
    store.init_schema()
    try:
        ctx = GameContext(load_world(settings.data_dir), settings)
        drive_sync(create_player(ctx, "韩立", Identity(PLAYER_ID, PLAYER_TOKEN, 20261201,
                                                     fate_secret="fuzz-fate-0001")),
                   SyncEffects(store, None))
    finally:
        store.close()


@pytest.fixture(scope="module")
def anonymous_servers(tmp_path_factory: pytest.TempPathFactory,
                      redis_url: str) -> Iterator[dict[str, AppServer]]:
    """Both apps in Celery mode, fresh databases."""
    servers = _start_pair(tmp_path_factory.mktemp("fuzz-anon"),
                          {"LLM_BACKEND": "celery", "REDIS_URL": redis_url,
                           "CELERY_QUEUE": f"xianxia.fuzz.{uuid.uuid4().hex}"}, seed=False)
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="module")
def player_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, AppServer]]:
    """Both apps with inline (offline) narration and the seeded player."""
    servers = _start_pair(tmp_path_factory.mktemp("fuzz-player"), {"LLM_BACKEND": ""},
                          seed=True)
    yield servers
    for server in servers.values():
        server.stop()


def _without_times(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_times(v) for k, v in data.items() if k != "created_at"}
    if isinstance(data, list):
        return [_without_times(v) for v in data]
    return data


def _comparable(path: str, status: int, body: bytes) -> Any:
    """The body as is for errors; for a success, its JSON without the clock's timestamps, or
    only its keys when the content differs by design (_VARIABLE)."""
    if status >= 400:
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if path in _VARIABLE:
        return sorted(data) if isinstance(data, dict) else type(data).__name__
    return _without_times(data)


def _short(text: str) -> str:
    return text if len(text) <= 300 else text[:300] + f"... ({len(text)} chars)"


def _check(case: Any, servers: dict[str, AppServer], excluded: list[Any]) -> None:
    # Every default check: no 5xx, a documented status, content type, headers, the response
    # schema, schema-violating requests refused (with REJECTIONS).
    got = case.call(base_url=servers["quart"].base_url, timeout=30)
    case.validate_response(got, excluded_checks=excluded)
    replay = case.call(base_url=servers["flask"].base_url, timeout=30)
    case.validate_response(replay, excluded_checks=excluded)
    path = case.formatted_path
    CASES.append((case.method, path, got.status_code))
    where = f"{case.method} {_short(path)}: quart {got.status_code} {_short(got.text)}"
    assert replay.status_code == got.status_code, f"{where}; flask {replay.status_code}"
    assert (_comparable(path, got.status_code, got.content)
            == _comparable(path, replay.status_code, replay.content)), (
        f"{where}; flask {_short(replay.text)}")


def _runner(servers: dict[str, AppServer], excluded: list[Any], strategy: Any) -> Any:
    """A bounded, reproducible hypothesis run of one operation's cases."""

    @given(case=strategy)
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate], database=None)
    def run(case: Any) -> None:
        _check(case, servers, excluded)

    return run


def _fuzz(servers: dict[str, AppServer], mode: GenerationMode, *, as_player: bool,
          skip: tuple[str, ...] = ()) -> None:
    schema = schemathesis.openapi.from_url(servers["quart"].base_url + "/openapi.json")
    schema.config.checks.negative_data_rejection.expected_statuses = list(REJECTIONS)
    schema.config.checks.positive_data_acceptance.expected_statuses = list(ACCEPTANCES)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:
        if operation.label in skip:
            continue
        kwargs: dict[str, Any] = {}
        # As a player the token is fixed for every case, so schemathesis' re-send "with the
        # auth broken" would still carry it; the anonymous pass and test_llm_access cover that.
        excluded = [ignored_auth] if as_player else []
        if as_player:
            kwargs["headers"] = {"Authorization": f"Bearer {PLAYER_TOKEN}"}
            if "{player_id}" in operation.path:
                kwargs["path_parameters"] = {"player_id": PLAYER_ID}

        run = _runner(servers, excluded, operation.as_strategy(generation_mode=mode, **kwargs))
        try:
            run()
        except Unsatisfiable:
            # Nothing to break in this operation (no parameters, no body): negative mode
            # has no case to make; positive mode covered it.
            assert mode is GenerationMode.NEGATIVE, operation.label


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_anonymous_requests_get_documented_identical_answers(
    anonymous_servers: dict[str, AppServer], mode: GenerationMode
) -> None:
    _fuzz(anonymous_servers, mode, as_player=False)


def test_a_players_requests_get_documented_identical_answers(
    player_servers: dict[str, AppServer]
) -> None:
    # Without Celery the task status route is a 503 by design; the anonymous pass covers it.
    _fuzz(player_servers, GenerationMode.POSITIVE, as_player=True,
          skip=("GET /api/llm/tasks/{task_id}", "POST /api/llm/tasks"))


def test_the_pass_ran_a_few_hundred_cases() -> None:
    if not CASES:
        pytest.skip("the fuzz passes did not run in this session")
    statuses = sorted({s for _, _, s in CASES})
    print(f"\nschemathesis: {len(CASES)} cases on each app, statuses {statuses}")
    assert len(CASES) >= 300
    assert all(s < 500 for _, _, s in CASES)
