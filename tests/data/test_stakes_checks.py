"""The loader's checks of gamecore data: realm gates, event choices, 天劫 bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.data.test_loader import data_copy, edit, entry, has, problems_of

__all__ = ["data_copy"]  # the fixture, re-exported for this module


def test_gate_and_choice_problems(data_copy: Path) -> None:
    def realms(d: list[dict[str, Any]]) -> None:
        entry(d, "zhuji")["gate"] = {"items": ["no_such_pill"], "preparation": 2}
        entry(d, "lianqi")["gate"] = {"preparation": 1}

    def events(d: list[dict[str, Any]]) -> None:
        toll = entry(d, "bandit_toll")
        toll["choices"] = [dict(c, cost=5) for c in toll["choices"]]
        toll["choices"][1]["id"] = toll["choices"][0]["id"]
        toll["choices"][0]["outcomes"][0]["effects"] = {"fight": "no_such_beast"}
        fox = entry(d, "wounded_fox")
        fox["choices"] = fox["choices"][:1]

    def rules(r: dict[str, Any]) -> None:
        r["stakes"]["min_tribulation_survival"] = 0.9
        r["stakes"]["max_tribulation_survival"] = 0.5

    edit(data_copy, "realms.json", realms)
    edit(data_copy, "events.json", events)
    edit(data_copy, "rules.json", rules)
    probs = problems_of(data_copy)
    assert has(probs, "realms.json", "zhuji", "gate.items[0]", "unknown item")
    assert has(probs, "realms.json", "lianqi", "gate", "never broken into")
    assert has(probs, "events.json", "bandit_toll", "choices", "must be free")
    assert has(probs, "events.json", "bandit_toll", "choices", "used 2 times")
    assert has(probs, "events.json", "bandit_toll", "choices[0].outcomes[0].effects.fight",
               "unknown monster")
    assert has(probs, "events.json", "wounded_fox", "choices", "2 or 3")
    assert has(probs, "rules.json", "rules", "stakes.max_tribulation_survival", "below")


def test_more_than_three_options_is_a_schema_problem(data_copy: Path) -> None:
    def events(d: list[dict[str, Any]]) -> None:
        toll = entry(d, "bandit_toll")
        toll["choices"] = toll["choices"] + [dict(toll["choices"][0], id="x")]

    edit(data_copy, "events.json", events)
    assert has(problems_of(data_copy), "events.json", "bandit_toll", "choices")
