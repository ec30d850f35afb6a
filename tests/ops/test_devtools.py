"""The dev tools for real: the process manager starts an app, the load generator drives it
(both scenarios), every benchmark is reachable from ``python -m devtools.bench``, and a stop
ends the whole process group."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import load, procs
from devtools.bench import COMMANDS
from shared.config import REPO_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def offline_quart(tmp_path: Path) -> Iterator[procs.AppServer]:
    """quart_app on hypercorn with the offline narrator and a fresh SQLite file."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'game.db'}", "DEEPSEEK_API_KEY": "",
           "LLM_BACKEND": "", "CREATE_RATE_PER_MINUTE": "100000"}
    server = procs.start_app("quart", env, tmp_path)
    try:
        yield server
    finally:
        server.stop()
    assert not server.proc.alive()


def test_load_generator_drives_both_scenarios(offline_quart: procs.AppServer) -> None:
    actions = load.run_in_process(offline_quart.base_url, 12, 3, 30.0, scenario="actions")
    assert actions["finished"] and actions["errors"] == 0, actions
    # Offline narrator: every action is committed and narrated as "degraded".
    assert actions["degraded"] == 12 and actions["ok"] == 0
    assert actions["p50_s"] is not None and actions["p50_s"] <= actions["p99_s"]
    llm = load.run_in_process(offline_quart.base_url, 6, 2, 30.0, scenario="llm")
    assert llm["finished"] and llm["errors"] == 0 and llm["degraded"] == 6, llm


def test_load_generator_counts_http_errors(tmp_path: Path,
                                           fake_deepseek: procs.FakeDeepSeek) -> None:
    """Against a server with no such route, every request is an error of its status."""
    summary = load.run_in_process(fake_deepseek.base_url, 5, 2, 20.0, scenario="prompt")
    assert summary["errors"] == 5 and summary["error_kinds"] == {"http_404": 5}
    assert summary["finished"] and summary["ok"] == 0


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    # A parent that ignores nothing and a grandchild that outlives it unless the group dies.
    script = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    proc = procs.start("tree", [sys.executable, "-c", script], {}, tmp_path)
    time.sleep(0.5)
    assert len(_live_in_group(proc.pid)) == 2
    proc.stop(timeout=5)
    assert not proc.alive()
    # The orphaned grandchild is reaped by init a moment after it dies.
    deadline = time.monotonic() + 10
    while _live_in_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _live_in_group(proc.pid) == []


def _live_in_group(pgid: int) -> list[str]:
    """PIDs of the group's processes that are not zombies."""
    found = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(pgid)], capture_output=True,
                           text=True).stdout.split("\n")
    return [line.split()[0] for line in found if line.strip() and "Z" not in line.split()[1]]


def test_wait_until_reports_a_dead_process_with_its_log(tmp_path: Path) -> None:
    proc = procs.start("dies", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"], {},
                       tmp_path)
    with pytest.raises(RuntimeError, match=r"(?s)exited \(3\).*boom"):
        procs.wait_until(lambda: False, proc, 10.0, "never")


def test_every_benchmark_has_a_main_and_the_dispatcher_lists_them() -> None:
    for module in COMMANDS.values():
        assert callable(importlib.import_module(f"devtools.bench.{module}").main)
    done = subprocess.run([sys.executable, "-m", "devtools.bench"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    for command in COMMANDS:
        assert command in done.stderr


def test_mix_player_plays_its_first_action_from_the_creation_answer() -> None:
    """A slot that starts at the shop's buy step with too few stones talks instead, and one
    that holds the pill sells it: no first action is refused for want of what it could see."""
    poor = {"spirit_stones": 0, "inventory": {}, "hp": 10}
    first = load.MixPlayer(4, poor).first()  # step 4 of the round: buy
    assert json.loads(first)["type"] == "talk"
    holding = {"spirit_stones": 0, "inventory": {"huichun_dan": 2}, "hp": 10}
    assert json.loads(load.MixPlayer(4, holding).first())["type"] == "sell"
    rich = {"spirit_stones": 100, "inventory": {}, "hp": 10}
    assert json.loads(load.MixPlayer(4, rich).first())["type"] == "buy"
