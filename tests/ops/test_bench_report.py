"""The benchmark's arithmetic and report (devtools/load.py, devtools/bench/report.py).

The benchmark itself runs for minutes and is not a test; these check that its verdicts,
percentiles and document follow from the numbers it is given.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from devtools import load as bench_load
from devtools.bench import report as bench_report


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert bench_load.percentile(values, 50) == 50.0
    assert bench_load.percentile(values, 99) == 99.0
    assert bench_load.percentile(values, 100) == 100.0
    assert bench_load.percentile([3.0], 99) == 3.0
    assert bench_load.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert bench_load.percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0
    assert bench_load.percentile([], 50) is None


def _phase(rps: float, p99: float, cpu_ms: float, *, errors: int = 0, degraded: int = 0,
           finished: bool = True, n: int = 2000) -> dict[str, Any]:
    ok = n - errors - degraded
    return {"requests": n, "ok": ok, "degraded": degraded, "errors": errors,
            "finished": finished, "wall_s": ok / rps, "rps": rps, "p50_s": p99 / 2,
            "p99_s": p99, "cpu_ms_per_req": cpu_ms, "cpu_s": cpu_ms * n / 1000}


def _stack(name: str, load: dict[str, Any], burst_wall: float, rss: tuple[int, int]) -> dict:
    return {
        "stack": name,
        "burst": {**_phase(50, burst_wall, 1.0, n=50), "wall_s": burst_wall},
        "load": load,
        "overhead": _phase(1500, 0.1, 0.5, n=5000),
        "sweep": {"50": _phase(48, 1.05, 1.0, n=200), "500": load},
        "rss_first": {"after": 1000, "bytes": rss[0], "finished": True},
        "rss_total": {"after": 20000, "bytes": rss[1], "finished": True},
        "processes": 2,
    }


RESULTS: dict[str, Any] = {
    "plan": {"burst": 50, "latency": 1.0, "load": 2000, "load_conc": 500, "overhead": 5000,
             "overhead_conc": 64, "rss_first": 1000, "rss_total": 20000, "worker_threads": 64,
             "worker_procs": 8},
    "settings": {"llm_transport": "aiohttp", "llm_max_workers": 32,
                 "llm_max_concurrency": 512},
    "quick": False,
    "started": "2026-01-01 00:00:00",
    "duration_s": 600.0,
    "machine": {"cpus": 2, "memory_gib": 24, "python": "3.11", "platform": "linux",
                "versions": {"quart": "0.22"}},
    "stacks": [
        _stack("flask", _phase(100, 7.0, 1.0), 13.0, (100 << 20, 102 << 20)),
        _stack("quart-httpx", _phase(400, 1.4, 1.1), 1.05, (100 << 20, 105 << 20)),
        _stack("quart-threadpool", _phase(31, 16.0, 1.5, finished=False, n=1000), 2.1,
               (100 << 20, 115 << 20)),
    ],
}


def test_verdicts_follow_the_numbers() -> None:
    lines = [v.line() for v in bench_report.verdicts(RESULTS)]
    assert "PASS  quart-httpx: 50 concurrent at 1 s in <= 1.2 s: 1.05 s, 50 ok " \
           "(margin 0.15 s)" in lines
    load = [v for v in bench_report.verdicts(RESULTS) if v.target.startswith("2000 at 500")]
    assert [(v.stack, v.passed) for v in load] == [("quart-httpx", True),
                                                    ("quart-threadpool", False)]
    assert "did not finish" in load[1].measured
    cpu = {v.stack: v for v in bench_report.verdicts(RESULTS) if v.target.startswith("CPU")}
    assert cpu["quart-httpx"].passed is True  # 1.1 / 1.0 <= 1.2
    assert cpu["quart-threadpool"].passed is False  # 1.5x
    assert cpu["quart-threadpool"].margin == "margin -0.30x"
    rss = {v.stack: v.passed for v in bench_report.verdicts(RESULTS) if v.target.startswith("RSS")}
    assert rss == {"flask": True, "quart-httpx": True, "quart-threadpool": False}  # +15%


def test_errors_or_degraded_answers_fail_the_load_target() -> None:
    results = copy.deepcopy(RESULTS)
    results["stacks"][1]["load"] = _phase(400, 1.4, 1.1, degraded=1)
    (verdict,) = [v for v in bench_report.verdicts(results)
                  if v.stack == "quart-httpx" and v.target.startswith("2000")]
    assert verdict.passed is False
    assert "1 degraded" in verdict.measured


def test_report_and_charts_are_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "evaluation.md"
    lines = bench_report.write_report(RESULTS, out)
    text = out.read_text()
    assert any(line.startswith("MISS  quart-threadpool") for line in lines)
    for png in ("throughput_vs_concurrency.png", "p99_vs_concurrency.png", "cpu_per_1000.png"):
        assert (tmp_path / "img" / png).stat().st_size > 1000
        assert f"img/{png}" in text
    # The seed's table: option C was not run, so it is not scored.
    assert "| total (of 25) |" in text
    assert "not measured in this run" in text
    assert "Ship option A" in text


def test_a_throughput_miss_is_explained_by_the_measured_cpu(tmp_path: Path) -> None:
    results = copy.deepcopy(RESULTS)
    load = _phase(240, 2.4, 2.26)
    load["machine_busy_cores"] = 1.4
    results["stacks"][1]["load"] = results["stacks"][1]["sweep"]["500"] = load
    text = "\n".join(bench_report.recommendation(
        results, bench_report.option_rows(results)[1], bench_report.verdicts(results)))
    # 500 / (1 s + 500 x 2.26 ms) = 235; 380 req/s needs (500/380 - 1) / 500 = 0.63 ms.
    assert "0.54 of a core on average at 240 req/s" in text
    assert "model 500 / (1 + 1.13) s = 235 req/s" in text
    assert "rounds of at most 1.32 s: about 0.63 ms of CPU per request" in text
    assert "1.40 of 2 cores were busy" in text


def _target_phase(scenario: str, rate: float, p99: float, cpu_ms: float) -> dict[str, Any]:
    return {"scenario": scenario, "rps": rate, "served_rps": rate, "served": 2000, "ok": 2000,
            "degraded": 0, "errors": 0, "refused": 0, "p50_s": p99 / 2, "p99_s": p99,
            "cpu_ms": cpu_ms, "wall_s": 2000 / rate, "loadavg_before": 0.5,
            "loadavg_after": 0.6}


def test_the_targets_sections_compare_before_after_and_the_seed_route(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import json

    plan = {"requests": 2000, "concurrency": 500, "latency": 1.0}
    before = {"started": "2026-12-01 22:40:00", "plan": plan, "phases": {
        "sqlite-1/llm": _target_phase("llm", 273, 2.03, 2.33),
        "sqlite-1/mix": _target_phase("mix", 225, 3.36, 4.00)}, "verdicts": []}
    after = {"started": "2026-12-01 23:50:00", "plan": plan, "phases": {
        "sqlite-1/llm": _target_phase("llm", 321, 1.65, 1.45),
        "sqlite-1/mix": _target_phase("mix", 245, 2.43, 2.47),
        "sqlite-2/llm": _target_phase("llm", 379, 1.47, 1.29),
        "seed-route-x2/prompt": _target_phase("prompt", 367, 1.53, 1.26)},
        "verdicts": [{"target": "t", "passed": False, "figures": "f"}]}
    (tmp_path / "bench-targets.json").write_text(json.dumps(after))
    (tmp_path / "bench-targets-before.json").write_text(json.dumps(before))
    lines, pngs = bench_report.issue12_sections(tmp_path)
    text = "\n".join(lines)
    assert "| the minimal seed route, 2 hypercorn workers | 367 |" in text
    assert "game actions 4.00 -> 2.47 ms of CPU each and 225 -> 245/s" in text
    assert "did 367 req/s at 1.26 ms of CPU each" in text
    assert "serves 103% of what the bare route does" in text
    assert "about 0.44 ms of CPU per request per worker" in text  # (500/450 - 1) / 250
    assert pngs == ["actions_vs_llm.png"] and (tmp_path / "actions_vs_llm.png").exists()


def test_py_spy_samples_without_python_frames_count_as_native(tmp_path: Path) -> None:
    from devtools.bench import profile

    raw = tmp_path / "raw.txt"
    raw.write_text(
        "thread (7): MainThread;run (asyncio/runners.py:118);transact_player "
        "(/srv/shared/store/operations.py:210) 3\n"
        "thread (7): MainThread 2\n"
        "thread (8): store-sqlite_0;_drain (/srv/shared/store/sqlite_thread.py:90) 1\n")
    summary = profile.summarize_pyspy(raw)
    text = repr(summary)
    assert "native code (no Python frame)" in text and "stdlib:7" not in text
    assert "shared/store" in text
