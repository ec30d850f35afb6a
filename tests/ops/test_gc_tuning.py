"""The serving processes' garbage-collector tuning (``GC_THRESHOLD``, freeze after start-up)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared import runtime
from shared.config import ConfigError, Settings


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*before)


@pytest.mark.parametrize(("value", "expected"), [
    ("", None), ("  ", None), ("50000,50,100", (50000, 50, 100)), ("700,10,10", (700, 10, 10)),
])
def test_thresholds_parse(value: str, expected: tuple[int, int, int] | None) -> None:
    assert runtime.gc_thresholds(value) == expected


@pytest.mark.parametrize("value", ["50000", "a,b,c", "0,10,10", "1,2,3,4", "5,-1,3"])
def test_a_malformed_threshold_stops_start_up(value: str) -> None:
    with pytest.raises(ConfigError, match="GC_THRESHOLD"):
        runtime.gc_thresholds(value)
    with pytest.raises(ConfigError, match="GC_THRESHOLD"):
        runtime.prepare("quart", Settings(gc_threshold=value))


def test_tuning_sets_the_thresholds_and_freezes_once(restore_gc: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_frozen", False)
    frozen: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    runtime.tune_gc(Settings(gc_threshold="40000,30,90"))
    assert gc.get_threshold() == (40000, 30, 90) and frozen == [1]
    runtime.tune_gc(Settings(gc_threshold=""))  # Python's own thresholds stay as they are
    assert gc.get_threshold() == (40000, 30, 90) and frozen == [1]  # frozen only once
