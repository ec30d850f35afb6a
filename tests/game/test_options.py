"""The page's controls (``shared.game.options``): every action type labelled, every offered
candidate accepted by the rules, every refused one with the rules' reason (issue 9)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from shared.data import World
from shared.errors import AppError
from shared.game import Action, PlayerState, apply_action
from shared.game.action import ACTION_TYPES
from shared.game.options import ACTION_LABELS, CANDIDATES, action_options
from shared.game.world_options import world_options
from tests.game.test_changes import player

CJK = range(0x4E00, 0xA000)


def test_every_action_type_has_a_chinese_label() -> None:
    assert set(ACTION_LABELS) == set(ACTION_TYPES)
    for kind, label in ACTION_LABELS.items():
        assert label and all(ord(ch) in CJK for ch in label), (kind, label)
    assert set(CANDIDATES) <= set(ACTION_TYPES)


def samples(world: World) -> dict[str, PlayerState]:
    """States that open different controls: the start, a sect member at home with 贡献 and
    crafting goods, a rich buyer in the market, a pending choice, the peak, a downed one."""
    base = player(world, spirit_stones=300)
    top = world.realms[-1]
    last = len(top.stages) - 1
    market = next(s.location for s in world.shops.values() if s.location != base.location)
    choice = next(e for e in world.events.values() if e.choices)
    return {
        "start": base,
        "sect": player(world, location="qingyun_sect", sect="qingyun", contribution=1000,
                       inventory={"danjing_rumen": 1, "bainian_lingcao": 4,
                                  "qingtong_danlu": 1, "yaodan": 3},
                       recipes=("r_juqi",), spirit_stones=500),
        "market": replace(base, location=market, spirit_stones=5000),
        "choice": replace(base, pending_choice=choice.id),
        "peak": replace(base, realm=top.id, stage=last, qi=top.stages[last].qi_required,
                        spirit_stones=5000),
        "downed": replace(base, hp=0),
    }


def as_action(kind: str, params: dict[str, Any]) -> Action:
    return Action(kind, target=params.get("target"), item=params.get("item"))


@pytest.mark.parametrize("name", ["start", "sect", "market", "choice", "peak", "downed"])
def test_offered_candidates_are_accepted_and_refusals_explained(world: World, name: str) -> None:
    state = samples(world)[name]
    options = action_options(world, state)
    assert [o["type"] for o in options] == list(ACTION_TYPES)
    offered = 0
    for opt in options:
        assert opt["label"] == ACTION_LABELS[opt["type"]]
        assert opt["choices"], opt["type"]  # even an impossible action shows why
        for choice in opt["choices"]:
            action = as_action(opt["type"], choice["params"])
            if not choice["ok"]:
                assert choice["reason"] and choice["code"], (opt["type"], choice)
                continue
            offered += 1
            for seed in (1, 77, 2026):  # chance decides outcomes, never whether it is allowed
                try:
                    apply_action(world, state, action, seed)
                except AppError as exc:  # pragma: no cover - the assertion explains
                    raise AssertionError(f"{action} offered but refused: {exc.code}") from exc
    assert offered > 0


def test_the_controls_cover_the_new_actions(world: World) -> None:
    s = samples(world)
    ok = {name: {o["type"] for o in action_options(world, st)
                 if any(c["ok"] for c in o["choices"])} for name, st in s.items()}
    assert {"buy", "sell", "give", "quest", "talk"} <= ok["start"]
    assert {"sect_mission", "exchange", "promote", "craft", "learn", "leave_sect"} <= ok["sect"]
    assert ok["choice"] <= {"choose", "flee"} and "choose" in ok["choice"]
    assert "ascend" in ok["peak"]
    assert ok["downed"] <= {"rest"}
    choose = next(o for o in action_options(world, s["choice"]) if o["type"] == "choose")
    event = world.events[s["choice"].pending_choice or ""]
    assert [c["params"]["target"] for c in choose["choices"]] == [c.id for c in event.choices]


def test_the_controls_offer_what_the_bots_find(world: World) -> None:
    """Every gameworld action the bots' option list finds is an offered control too."""
    for state in samples(world).values():
        offered = [(o["type"], c["params"]) for o in action_options(world, state)
                   for c in o["choices"] if c["ok"]]
        for act in world_options(world, state):
            fields = {k: v for k, v in (("target", act.target), ("item", act.item)) if v}
            assert any(kind == act.type and all(fields.get(k) == v for k, v in params.items())
                       for kind, params in offered), act
