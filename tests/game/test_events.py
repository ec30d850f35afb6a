"""Every event in data/ can happen to some player, and every outcome of it applies cleanly."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from shared.config import REPO_ROOT
from shared.data import World
from shared.data.models import Event
from shared.game import Action, PlayerState, apply_action, eligible_events
from shared.game.exploration import apply_effects, event_eligible
from shared.game.progress import qi_cap
from shared.game.rng import make_rng
from tests.game.test_changes import player, replay


def state_for(world: World, event: Event) -> PlayerState:
    """A player who meets ``event``'s conditions, built only from what the data says."""
    c = event.conditions
    top = len(world.realms) - 1
    lo, hi = world.realm_index(c.min_realm), world.realm_index(c.max_realm, default=top)
    places = c.locations or tuple(world.locations)
    for loc_id in places:
        loc = world.locations[loc_id]
        rank = max(lo, world.realm_index(loc.min_realm))
        if loc.danger >= c.min_danger and rank <= hi:
            state = player(world, location=loc_id, realm=world.realms[rank].id,
                           spirit_stones=c.min_spirit_stones, hp=50, max_hp=100,
                           techniques=())
            if c.requires_item:
                state = state.with_item(c.requires_item, 1)
            return state
    raise AssertionError(f"{event.id}: no location satisfies its conditions")


def test_there_are_enough_events(world: World) -> None:
    assert len(world.events) >= 30
    assert {e.kind for e in world.events.values()} == {
        "encounter", "treasure", "ambush", "fortune", "hazard"}


EVENT_IDS = [e["id"] for e in json.loads((REPO_ROOT / "data" / "events.json").read_text("utf-8"))]


@pytest.mark.parametrize("event_id", EVENT_IDS)
def test_event_is_reachable_and_every_outcome_applies(world: World, event_id: str) -> None:
    event = world.events[event_id]
    state = state_for(world, event)
    assert event in eligible_events(world, state)
    for index, branch in enumerate(event.outcomes):
        for seed in range(3):
            after, fight = apply_effects(world, state, branch.effects, make_rng(seed))
            eff = branch.effects
            assert after.hp >= (0 if eff.fight else 1), (event_id, index)
            assert 0 <= after.qi <= max(qi_cap(world, after), state.qi)
            assert after.spirit_stones >= 0
            for item_id, n in eff.items.items():
                if fight is None or fight.combat.result != "victory":
                    assert after.count(item_id) == max(0, state.count(item_id) + n)
            if eff.technique:
                assert eff.technique in after.techniques
            assert (fight is not None) == (eff.fight is not None)


def test_explore_reaches_each_event_through_the_real_action(world: World) -> None:
    seen: set[str] = set()
    for event in world.events.values():
        state = state_for(world, event)
        for seed in range(400):
            out = apply_action(world, state, Action("explore"), seed)
            assert replay(state, out) == out.state.to_dict()
            seen.add(out.events[0]["id"])
            if event.id in seen:
                break
    assert seen >= set(world.events)


def test_conditions_are_enforced(world: World) -> None:
    cave = world.events["ancient_cave"]
    with_map = state_for(world, cave)
    assert event_eligible(world, with_map, cave)
    assert not event_eligible(world, with_map.with_item("gu_tu", -1), cave)  # requires_item
    assert not event_eligible(world, replace(with_map, location="qingyun_sect"), cave)
    small = world.events["small_epiphany"]
    assert not event_eligible(world, player(world, realm="zhuji"), small)  # max_realm
    heart = world.events["heart_demon"]
    assert not event_eligible(world, player(world), heart)  # min_realm
    assert event_eligible(world, player(world, realm="jindan"), heart)
    robbery = world.events["highway_robbery"]
    assert not event_eligible(world, player(world, location="qingyun_village"), robbery)
    auction = world.events["auction"]
    rich = player(world, location="qingyang_market", spirit_stones=50)
    assert event_eligible(world, rich, auction)
    assert not event_eligible(world, replace(rich, spirit_stones=49), auction)
    library = world.events["sect_library"]
    pupil = player(world, location="qingyun_sect", techniques=())
    assert event_eligible(world, pupil, library)
    assert not event_eligible(world, replace(pupil, techniques=("qingyuan_jianjue",)), library)


def test_event_damage_never_kills(world: World) -> None:
    storm = world.events["sea_storm"].outcomes[0].effects
    state = player(world, location="east_sea", hp=3)
    after, _ = apply_effects(world, state, storm, make_rng(1))
    assert after.hp == 1
