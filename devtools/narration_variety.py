"""How varied the offline narrator is over a long game (a benchmark that prints, not a test).

    python -m devtools.narration_variety [--players 4] [--actions 1500] [--seed 1]

Bots play through the rules in process, each outcome is told by the offline narrator, and the
script prints, per narration kind and overall: texts, distinct sentence *shapes* (digits
masked), their share, and the longest run of one shape in a row for one player. Targets from
issue 10: distinct-shape share at least 40% overall, no shape twice in a row.
"""

from __future__ import annotations

import argparse
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from shared.config import REPO_ROOT
from shared.data import World, load_world
from shared.errors import AppError
from shared.game import Action, PlayerState, action_seed, apply_action, new_player, offline_text
from shared.game.progress import qi_required

SHAPE_TARGET = 0.40
_DIGITS = re.compile(r"\d+")


def shape(text: str) -> str:
    """A text with its numbers masked: two texts of one shape differ only in amounts."""
    return _DIGITS.sub("#", text)


@dataclass
class Tally:
    """Texts, shapes and the longest same-shape run of one narration kind."""

    texts: int = 0
    shapes: set[str] = field(default_factory=set)
    longest_run: int = 1


def _choices(world: World, state: PlayerState, rng: random.Random) -> Iterator[Action]:
    """Sensible actions for a bot, most wanted first; the rules refuse what does not fit."""
    if state.qi >= qi_required(world, state):
        yield Action("breakthrough")
    if state.hp * 2 < state.max_hp:
        usable = [i for i in state.inventory if i in world.items and state.count(i) > 0]
        if usable:
            yield Action("use_item", item=rng.choice(sorted(usable)))
        yield Action("rest")
    here = world.locations[state.location]
    options: list[Action] = [Action("cultivate"), Action("cultivate"), Action("explore")]
    if here.monsters:
        options.append(Action("fight", target=rng.choice(here.monsters)))
    if here.npcs:
        options.append(Action("talk", target=rng.choice(here.npcs), text="前辈，请指点一二。"))
    exits = sorted(world.neighbors(state.location))
    if exits:
        options.append(Action("travel", target=rng.choice(exits)))
    rng.shuffle(options)
    yield from options
    yield Action("rest")


def play(world: World, players: int, actions: int, seed: int) -> dict[str, Tally]:
    """Play ``players`` bots for ``actions`` actions each; tallies per kind plus ``_all``."""
    tallies: dict[str, Tally] = defaultdict(Tally)
    for p in range(players):
        rng = random.Random(seed * 1000 + p)
        pid = f"variety-{seed}-{p}"
        state = new_player(world, f"行者{p}", action_seed(pid, 0)).state
        last: str | None = None
        run = 0
        for _ in range(actions):
            for action in _choices(world, state, rng):
                try:
                    outcome = apply_action(world, state, action, action_seed(pid, state.turn))
                except AppError:
                    continue  # refused now: try the next wish
                break
            else:
                break  # nothing is possible any more (the run has ended)
            state = outcome.state
            text = offline_text(world, outcome.narration)
            kind = outcome.narration.kind
            form = shape(text)
            run = run + 1 if form == last else 1
            last = form
            for key in (kind, "_all"):
                t = tallies[key]
                t.texts += 1
                t.shapes.add(form)
                t.longest_run = max(t.longest_run, run)
    return tallies


def report(tallies: dict[str, Tally]) -> str:
    """The table, one line a kind, overall last, with PASS/FAIL against the targets."""
    lines = [f"{'kind':<22}{'texts':>7}{'shapes':>8}{'share':>8}{'longest run':>13}"]
    counts = Counter({k: t.texts for k, t in tallies.items() if k != "_all"})
    for kind, _ in counts.most_common():
        t = tallies[kind]
        lines.append(f"{kind:<22}{t.texts:>7}{len(t.shapes):>8}"
                     f"{len(t.shapes) / t.texts:>8.0%}{t.longest_run:>13}")
    total = tallies["_all"]
    share = len(total.shapes) / max(total.texts, 1)
    lines.append(f"{'overall':<22}{total.texts:>7}{len(total.shapes):>8}{share:>8.0%}"
                 f"{total.longest_run:>13}")
    lines.append(f"distinct-shape share >= {SHAPE_TARGET:.0%}: "
                 f"{'PASS' if share >= SHAPE_TARGET else 'FAIL'} ({share:.1%})")
    lines.append(f"no shape twice in a row: {'PASS' if total.longest_run <= 1 else 'FAIL'} "
                 f"(longest run {total.longest_run})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--players", type=int, default=4)
    ap.add_argument("--actions", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    world = load_world(REPO_ROOT / "data")
    print(report(play(world, args.players, args.actions, args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
