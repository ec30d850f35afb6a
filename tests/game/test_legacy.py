"""传承 and the hall of 飞升者: what an ended story leaves, decided from the final state."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.data import World
from shared.game import Action
from shared.game.legacy import (
    Legacy,
    ended_now,
    hall_entry,
    hall_record,
    inherit,
    legacy_from_record,
    legacy_of,
)
from shared.game.lifespan import end
from tests.game.test_changes import player


def test_only_an_ended_story_leaves_a_legacy(world: World) -> None:
    state = player(world)
    assert legacy_of(world, state) is None
    with pytest.raises(ValueError):
        hall_record(world, "pid", state)


def test_ascended_record_and_inheritance(world: World) -> None:
    st = world.rules.stakes
    final = end(player(world, realm="dujie", stage=3, spirit_stones=100_000,
                       equipped="zidian_jian", kills=9), "ascended")
    final = final.with_item("qingfeng_jian", 1).with_item("huichun_dan", 3)
    record = hall_record(world, "pid", final)
    assert record["ascended"] and record["cause"] == "ascended" and record["kills"] == 9
    assert record["realm"].startswith("渡劫") and "fate_secret" not in record
    legacy = legacy_of(world, final)
    assert legacy is not None
    assert legacy.spirit_stones == st.legacy_stone_cap  # capped: something small
    # the worn artifact is too precious: the best carried item within the cap instead
    assert dict(legacy.items) == {"qingfeng_jian": 1}
    assert legacy.qi == st.legacy_ascended_qi
    heir = inherit(world, player(world), legacy)
    assert heir.legacy_from == final.name
    assert heir.count("qingfeng_jian") == 1
    assert heir.spirit_stones == player(world).spirit_stones + legacy.spirit_stones
    assert heir.qi == min(legacy.qi, int(world.realms[0].stages[0].qi_required
                                          * world.rules.qi_cap_ratio))


def test_death_leaves_less(world: World) -> None:
    final = end(replace(player(world, spirit_stones=30)), "old_age")
    legacy = legacy_of(world, final)
    assert legacy is not None and legacy.qi == 0
    assert legacy.spirit_stones == int(30 * world.rules.stakes.legacy_stone_share)
    assert legacy.to_dict()["predecessor"] == final.name


def test_hall_entry_for_the_store_round_trips_the_legacy(world: World) -> None:
    import json

    final = end(player(world, spirit_stones=500), "slain")
    name, kind, record = hall_entry(world, "pid", final)
    assert (name, kind) == (final.name, "died")
    stored = json.loads(json.dumps(record))  # what a JSON column gives back
    legacy = legacy_from_record(stored)
    assert legacy == legacy_of(world, final)
    assert isinstance(legacy, Legacy) and Legacy.from_dict(legacy.to_dict()) == legacy
    ascended = end(player(world), "ascended")
    assert hall_entry(world, "p2", ascended)[1] == "ascended"


def test_ended_now_marks_only_the_ending_action(world: World) -> None:
    from shared.game.lifespan import DAYS_PER_YEAR
    from tests.game.test_changes import outcome_of

    lifespan = world.realm("lianqi").lifespan
    state = player(world, day=(lifespan - world.rules.start_age) * DAYS_PER_YEAR - 1)
    out = outcome_of(world, state, Action("cultivate"))
    assert ended_now(state, out.state)
    assert not ended_now(out.state, out.state)
    assert not ended_now(player(world), player(world))
