"""传承 and the hall of 飞升者: what an ended story leaves, decided from the final state."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.data import World
from shared.game.legacy import hall_record, inherit, legacy_of
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
