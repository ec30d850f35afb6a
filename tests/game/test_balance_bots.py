"""The balance benchmark's bots play the real rules: bounded, deterministic, and sensible."""

from __future__ import annotations

from devtools.balance import PROBES, STRATEGIES, Summary, check_targets, never_reached, play
from shared.data import World


def test_every_bot_plays_a_short_life_deterministically(world: World) -> None:
    for name, decide in {**STRATEGIES, **PROBES}.items():
        run = play(world, name, decide, 7, 400)
        again = play(world, name, decide, 7, 400)
        assert (run.reached, run.refused, run.stones) == (again.reached, again.refused,
                                                          again.stones), name
        assert run.attempts <= 400 and run.actions > 0
        if name != "random":
            assert run.refused / run.attempts < 0.05, (name, run.refusals)


def test_targets_and_holes_are_computed_from_the_runs(world: World) -> None:
    summaries = {n: Summary(n, [play(world, n, d, 3, 150)]) for n, d in STRATEGIES.items()}
    probes = {n: Summary(n, [play(world, n, d, 3, 150)]) for n, d in PROBES.items()}
    targets = check_targets(summaries, probes)
    assert len(targets) == 4
    # 150 actions reach no 渡劫: the greedy target cannot pass, the village one does
    assert not targets[0].passed and targets[1].passed
    missing = never_reached(world, (r for s in summaries.values() for r in s.runs))
    assert "jiuxiao_leichi" in missing["locations"]
