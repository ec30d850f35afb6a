"""The loader's checks of NPC memory data: remark conditions, talk template texts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.data.test_loader import data_copy, edit, entry, has, problems_of

__all__ = ["data_copy"]  # the fixture, re-exported for this module


def test_remark_and_prose_conditions_are_checked(data_copy: Path) -> None:
    def npcs(d: list[dict[str, Any]]) -> None:
        entry(d, "li_laohan")["remarks"] = [
            {"text": "甲", "when": {"favour": "至交"}},
            {"text": "乙", "when": {"topic": ["pill", "weather"]}},
            {"text": "丙", "when": {"returning": "yes"}},
            {"text": "丁"},
        ]

    def prompts(p: dict[str, Any]) -> None:
        talk = p["kinds"]["talk"]
        talk["persona"] = "{npc}，{name}"
        talk["parts"][0].append({"text": "戊", "when": {"tier": "immortal"}})

    edit(data_copy, "npcs.json", npcs)
    edit(data_copy, "prompts.json", prompts)
    probs = problems_of(data_copy)
    f = "npcs.json"
    assert has(probs, f, "li_laohan", "remarks[0].when.favour", "unknown favour '至交'")
    assert has(probs, f, "li_laohan", "remarks[1].when.topic", "unknown topic 'weather'")
    assert not has(probs, f, "li_laohan", "remarks[1].when.topic", "'pill'")
    assert has(probs, f, "li_laohan", "remarks[2].when.returning", "true or false")
    assert has(probs, f, "li_laohan", "remarks[3]", "belongs in lines")
    assert has(probs, "prompts.json", "talk", "persona", "name")
    doc = json.loads((data_copy / "prompts.json").read_text("utf-8"))
    last = len(doc["kinds"]["talk"]["parts"][0]) - 1
    assert has(probs, "prompts.json", "talk", f"parts[0][{last}].when.tier", "unknown tier")
