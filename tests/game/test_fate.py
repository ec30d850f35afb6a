"""Hidden fate: the seed mixes a server secret, so public data foresees nothing."""

from __future__ import annotations

from dataclasses import replace

from shared.data import World
from shared.game import Action, action_seed, apply_action, fate_seed, next_seed
from tests.game.test_changes import outcome_of, player


def test_fate_seed_depends_on_the_secret_and_the_counter() -> None:
    a = fate_seed("s1", "pid", 0)
    assert a == fate_seed("s1", "pid", 0)  # deterministic for the server
    assert a != fate_seed("s2", "pid", 0)
    assert a != fate_seed("s1", "pid", 1)
    assert a != fate_seed("s1", "other", 0)
    assert a != action_seed("pid", 0)


def test_next_seed_uses_the_secret_when_there_is_one(world: World) -> None:
    old = player(world, turn=7)
    assert next_seed("pid", old) == action_seed("pid", 7)  # saves from before secrets
    new = replace(old, fate_secret="abc", fate_counter=3)
    assert next_seed("pid", new) == fate_seed("abc", "pid", 3)


def test_public_replay_cannot_foresee_outcomes(world: World) -> None:
    """A client knowing the id, the turn and the rules but not the secret guesses wrong."""
    state = replace(player(world), fate_secret="0f" * 16)
    hidden = [apply_action(world, replace(state, fate_counter=n), Action("cultivate"),
                           next_seed("pid", replace(state, fate_counter=n))).state.qi
              for n in range(40)]
    public = [apply_action(world, replace(state, turn=n), Action("cultivate"),
                           action_seed("pid", n)).state.qi for n in range(40)]
    assert hidden != public


def test_every_action_advances_the_counter_and_talk_costs_time(world: World) -> None:
    state = player(world, location="qingyun_village")
    out = outcome_of(world, state, Action("talk", target="li_laohan"))
    assert out.state.fate_counter == state.fate_counter + 1
    assert out.state.day == state.day + world.rules.days.talk >= state.day + 1


def test_the_secret_never_appears_in_an_outcome(world: World) -> None:
    state = replace(player(world), fate_secret="deadbeef" * 4)
    out = outcome_of(world, state, Action("cultivate"))
    assert out.state.fate_secret == state.fate_secret
    assert "fate_secret" not in {c.field for c in out.changes}
    assert "deadbeef" not in str(out.to_dict())
    assert "fate_secret" not in out.state.public_dict()
