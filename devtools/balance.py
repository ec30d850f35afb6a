"""Balance benchmark: bots of several strategies play the rules in process, bounded and fast.

Run ``python -m devtools.balance`` (``--runs``, ``--actions``, ``--out``). For each strategy it
prints the actions taken to reach each major realm, deaths by cause, the share of refused
actions, spirit stones over time and the content never reached; it checks the balance targets
of issue 9 (PASS/FAIL) and writes ``docs/balance.md`` with the table and one chart
(``docs/img/balance.png``). Bots talk to ``apply_action`` only, as the apps do, each with its
own hidden fate secret, so what they meet is what a player would meet.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from shared.data import World, load_world
from shared.errors import ActionRefused
from shared.game import Action, PlayerState, apply_action, new_player
from shared.game.combat import rank_gap
from shared.game.crafting import known_recipes
from shared.game.progress import next_position, qi_cap, qi_required
from shared.game.rng import fate_seed
from shared.game.world_options import world_options

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ACTIONS = 12_000
DEFAULT_RUNS = 5
STONE_SAMPLES = 6  # spirit stones are sampled at this many evenly spaced points
TARGET_MIN_GREEDY = 3000  # issue 9: a greedy player needs at least this many actions to 渡劫
TARGET_MAX_SPEEDUP = 2.0  # ... and nobody reaches it more than 2x faster than the median
PEAK_REALM = "dujie"
JOURNEY_EXPLORES = 8  # an explorer's journey explores its goal this many times


# --- the bots' view of the world ------------------------------------------------------------

@dataclass
class Bot:
    """One cultivator being played: its state and what it has met so far."""

    world: World
    state: PlayerState
    rng: random.Random
    player_id: str
    home: str | None = None  # a bot that never leaves this location
    last_code: str | None = None  # the code of the last refusal
    plan: str | None = None  # where a journeying bot is heading
    journey: int = 0  # explores done at the journey's goal


def allowed(world: World, state: PlayerState, loc_id: str) -> bool:
    """The player's realm admits this location."""
    need = world.locations[loc_id].min_realm
    return world.realm_index(state.realm) >= world.realm_index(need)


def next_hop(world: World, state: PlayerState, dest: str) -> str | None:
    """The first step of a shortest walkable route to ``dest`` (None if there or no way)."""
    if dest == state.location:
        return None
    prev: dict[str, str] = {}
    queue = deque([state.location])
    seen = {state.location}
    while queue:
        here = queue.popleft()
        for nxt in sorted(world.neighbors(here)):
            if nxt in seen or not allowed(world, state, nxt):
                continue
            seen.add(nxt)
            prev[nxt] = here
            if nxt == dest:
                while prev[nxt] != state.location:
                    nxt = prev[nxt]
                return nxt
            queue.append(nxt)
    return None


def reachable(world: World, state: PlayerState) -> list[str]:
    """Locations the player can walk to now (including here)."""
    seen = {state.location}
    queue = deque([state.location])
    while queue:
        for nxt in world.neighbors(queue.popleft()):
            if nxt not in seen and allowed(world, state, nxt):
                seen.add(nxt)
                queue.append(nxt)
    return sorted(seen)


def safe_places(world: World, state: PlayerState) -> list[str]:
    """Reachable places where no monster stands above the player's realm."""
    return [loc for loc in reachable(world, state)
            if all(rank_gap(world, state, world.monsters[m]) <= 0
                   for m in world.locations[loc].monsters)] or [state.location]


def best_spot(world: World, state: PlayerState, max_danger: int = 10) -> str:
    """The densest qi the player can reach, among places no more dangerous than allowed."""
    spots = [loc for loc in reachable(world, state)
             if world.locations[loc].danger <= max_danger]
    return max(spots or [state.location],
               key=lambda loc: (world.locations[loc].qi_density, loc))


def hunting_ground(world: World, state: PlayerState) -> str | None:
    """A reachable place with monsters of the player's realm or below (the strongest first)."""
    best: tuple[int, str] | None = None
    for loc in reachable(world, state):
        hps = [world.monsters[m].hp for m in world.locations[loc].monsters
               if beatable(world, state, m)]
        if hps and (best is None or max(hps) > best[0]):
            best = (max(hps), loc)
    return best[1] if best else None


def beatable(world: World, state: PlayerState, monster_id: str) -> bool:
    """A rough forecast: the player kills the monster well before the monster kills them."""
    m, r = world.monsters[monster_id], world.rules
    to_kill = m.hp / max(1.0, state.attack - m.defense * r.defense_factor)
    to_die = state.hp / max(1.0, m.attack - state.defense * r.defense_factor)
    return rank_gap(world, state, m) <= 0 and to_kill < to_die * 0.6


def safe_monster(world: World, state: PlayerState) -> str | None:
    """The strongest monster here the player should beat (None: none)."""
    here = [m for m in world.locations[state.location].monsters if beatable(world, state, m)]
    return max(here, key=lambda m: (world.monsters[m].hp, m)) if here else None


def at_gate(world: World, state: PlayerState) -> bool:
    """Qi is full for a major breakthrough."""
    nxt = next_position(world, state)
    return (nxt is not None and world.realms[nxt.realm].id != state.realm
            and state.qi >= qi_required(world, state))


def gate_met(world: World, state: PlayerState) -> bool:
    """The next major breakthrough's gate is open (a gate pill carried, or prepared)."""
    nxt = next_position(world, state)
    if nxt is None:
        return True
    gate = world.realms[nxt.realm].gate
    if gate is None:
        return True
    return any(state.count(i) for i in gate.items) or state.preparation >= gate.preparation


def prep_target(world: World, state: PlayerState, careful: bool) -> int:
    """How much preparation a bot wants before the next major breakthrough."""
    nxt = next_position(world, state)
    if nxt is None:
        return 0
    target = world.realms[nxt.realm]
    need = target.gate.preparation if target.gate else 0
    if any(state.count(i) for i in (target.gate.items if target.gate else ())):
        need = 0
    if careful and (target.tribulation is not None or need):
        return world.rules.stakes.max_preparation
    return need


def useful_item(world: World, state: PlayerState) -> str | None:
    """A carried pill or manual worth using now (healing only when hurt)."""
    for item_id in sorted(state.inventory):
        item = world.items.get(item_id)
        if item is None:
            continue
        eff = item.effects
        if item.kind == "manual" and eff.teaches not in state.techniques:
            tech = world.techniques[eff.teaches or ""]
            if world.realm_index(state.realm) >= world.realm_index(tech.min_realm):
                return item_id
        if item.kind == "pill" and eff.for_realm is None and not eff.breakthrough_bonus:
            if eff.hp and state.hp > state.max_hp * 0.5:
                continue
            if eff.qi and state.qi >= qi_cap(world, state):
                continue
            return item_id
        if item.kind == "artifact" and state.equipped != item_id:
            old = world.items.get(state.equipped or "")
            old_power = (old.effects.attack + old.effects.defense) if old else 0
            if eff.attack + eff.defense > old_power:
                return item_id
    return None


# --- strategies -----------------------------------------------------------------------------

Decide = Callable[[Bot], Action]


def answer_choice(bot: Bot, prefer: Iterable[str]) -> Action:
    """Answer a pending choice by preferred option kinds, affordable ones only."""
    event = bot.world.events[bot.state.pending_choice or ""]
    options = [c for c in event.choices if c.cost <= bot.state.spirit_stones]
    for kind in prefer:
        for c in options:
            if c.kind == kind:
                return Action("choose", target=c.id)
    return Action("choose", target=bot.rng.choice(options or list(event.choices)).id)


def climb(bot: Bot, *, spot: str, careful: bool, earn: Decide, prefer: Iterable[str]) -> Action:
    """The common loop: heal, use items, earn what the gate needs, cultivate at ``spot``, break
    through, ascend."""
    w, s = bot.world, bot.state
    if s.pending_choice:
        return answer_choice(bot, prefer)
    if not s.alive:
        return Action("rest")
    if s.hp < s.max_hp * 0.4 or s.injury >= 2 or s.heart_demon >= 2:
        item = useful_item(w, s)
        if item and w.items[item].effects.hp and s.hp < s.max_hp * 0.4:
            return Action("use_item", item=item)
        return Action("rest")
    item = useful_item(w, s)
    if item and bot.last_code != "no_effect":
        return Action("use_item", item=item)
    if next_position(w, s) is None and s.qi >= qi_required(w, s):
        return Action("ascend")
    if at_gate(w, s):
        want = prep_target(w, s, careful)
        if s.preparation < want:
            cost = w.realm(s.realm).prepare_cost
            if s.spirit_stones >= cost and bot.last_code != "preparation_full":
                return Action("prepare")
            return earn(bot)
        if gate_met(w, s):
            return Action("breakthrough")
        return earn(bot)
    hop = next_hop(w, s, spot) if bot.home is None else None
    if hop is not None:
        return Action("travel", target=hop)
    if s.qi >= qi_required(w, s) and next_position(w, s) is not None:
        return Action("breakthrough")
    return Action("cultivate")


def earn_by_exploring(bot: Bot) -> Action:
    """Explore here (or in the nearest place with events for the realm)."""
    return Action("explore")


def earn_by_fighting(bot: Bot) -> Action:
    """Hunt the strongest safe monster reachable; explore when there is none."""
    w, s = bot.world, bot.state
    if bot.home is None:
        ground = hunting_ground(w, s)
        if ground is not None and ground != s.location:
            hop = next_hop(w, s, ground)
            if hop:
                return Action("travel", target=hop)
    target = safe_monster(w, s)
    return Action("fight", target=target) if target else Action("explore")


def greedy(bot: Bot) -> Action:
    """Cultivate and break through at the best spot; earn only what a gate demands."""
    return climb(bot, spot=best_spot(bot.world, bot.state), careful=False,
                 earn=earn_by_fighting, prefer=("leave", "bargain", "flee"))


def village(bot: Bot) -> Action:
    """The greedy player who never leaves the start village (a probe, not a strategy)."""
    bot.home = bot.world.rules.start_location
    return climb(bot, spot=bot.home, careful=False, earn=earn_by_exploring,
                 prefer=("leave", "help", "bargain"))


def explorer(bot: Bot) -> Action:
    """Explores wherever it is a third of the time and now and then journeys to a random place
    to explore it; prepares fully before every great threshold."""
    w, s = bot.world, bot.state
    if s.pending_choice:
        return answer_choice(bot, ("seek", "help", "take", "bargain", "flee"))
    healthy = s.alive and s.hp >= s.max_hp * 0.6 and s.injury < 2
    if bot.plan is not None and healthy and not at_gate(w, s):
        hop = next_hop(w, s, bot.plan)
        if hop is not None:
            return Action("travel", target=hop)
        bot.journey += 1
        if bot.journey >= JOURNEY_EXPLORES:
            bot.plan, bot.journey = None, 0
        return Action("explore")
    if healthy and not at_gate(w, s):
        roll = bot.rng.random()
        if roll < 0.01:
            bot.plan = bot.rng.choice(safe_places(w, s))
        if roll < 0.3:
            return Action("explore")
    return climb(bot, spot=best_spot(w, s), careful=True, earn=earn_by_fighting,
                 prefer=("seek", "help", "take"))


def fighter(bot: Bot) -> Action:
    """Hunt monsters half the time, cultivate the rest; prepares only what the gates demand."""
    w, s = bot.world, bot.state
    if s.pending_choice:
        return answer_choice(bot, ("fight", "take", "steal"))
    if s.hp >= s.max_hp * 0.6 and not at_gate(w, s) and bot.rng.random() < 0.3:
        return earn_by_fighting(bot)
    return climb(bot, spot=best_spot(w, s), careful=False,
                 earn=earn_by_fighting, prefer=("fight", "take"))


def gate_items_ahead(world: World, state: PlayerState) -> tuple[str, ...]:
    """The items that open the next major realm's gate (empty when none or not ahead)."""
    nxt = next_position(world, state)
    if nxt is None or world.realms[nxt.realm].id == state.realm:
        # the gate that matters is the next major one
        later = world.realm_index(state.realm) + 1
        if later >= len(world.realms):
            return ()
        gate = world.realms[later].gate
    else:
        gate = world.realms[nxt.realm].gate
    return gate.items if gate else ()


def pick(options: list[Action], *types: str, item_in: Iterable[str] | None = None) -> Action | None:
    """The first option of the given types (restricted to items in ``item_in``)."""
    wanted = set(item_in) if item_in is not None else None
    for kind in types:
        for opt in options:
            if opt.type == kind and (wanted is None or opt.item in wanted):
                return opt
    return None


def sect_loyalist(bot: Bot) -> Action:
    """Joins 青云宗, works its missions for 贡献, exchanges it for gate pills and manuals, rises
    in rank, and cultivates; prepares carefully before every great threshold."""
    sect_home = "qingyun_sect"
    w, s = bot.world, bot.state
    if s.pending_choice:
        return answer_choice(bot, ("help", "bargain", "leave"))
    if not s.alive:
        return Action("rest")
    opts = world_options(w, s)
    if s.sect is None:
        join = pick(opts, "join_sect")
        if join is not None and s.hp >= s.max_hp * 0.8:
            return join
        hop = next_hop(w, s, sect_home)
        if hop is not None and bot.last_code is None:
            return Action("travel", target=hop)
    else:
        manuals = [i for i, it in w.items.items() if it.kind == "manual"
                   and it.effects.teaches not in s.techniques]
        choice = (pick(opts, "promote") or pick(opts, "exchange", item_in=gate_items_ahead(w, s))
                  or pick(opts, "exchange", item_in=manuals))
        if choice is not None:
            return choice
        if not at_gate(w, s) and bot.rng.random() < 0.3:
            return earn_for_sect(bot)
    return climb(bot, spot=best_spot(w, s), careful=True, earn=earn_for_sect,
                 prefer=("help", "bargain"))


def earn_for_sect(bot: Bot) -> Action:
    """Missions while the sect's gate pill needs more 贡献 (at home when none here), else
    hunt for the spirit stones preparation costs."""
    w, s = bot.world, bot.state
    sect = w.sects.get(s.sect or "")
    goals = [e.cost for e in (sect.exchange if sect else ())
             if e.item in gate_items_ahead(w, s) and e.min_rank <= s.sect_rank]
    if sect is not None and s.sect_rank + 1 < len(sect.ranks):
        rank = sect.ranks[s.sect_rank + 1]
        if w.realm_index(s.realm) >= w.realm_index(rank.min_realm):
            goals.append(rank.cost)
    if sect is not None and goals and s.contribution < min(goals):
        if s.hp < s.max_hp * 0.6:
            return Action("rest")
        mission = pick(world_options(w, s), "sect_mission")
        if mission is not None:
            return mission
        if s.location != sect.location:
            hop = next_hop(w, s, sect.location)
            if hop is not None:
                return Action("travel", target=hop)
    return earn_by_fighting(bot)


def merchant(bot: Bot) -> Action:
    """Hunts for loot, sells materials, learns and crafts recipes, buys gate pills and
    artifacts in the shops."""
    w, s = bot.world, bot.state
    if s.pending_choice:
        return answer_choice(bot, ("bargain", "take", "leave"))
    if not s.alive:
        return Action("rest")
    opts = world_options(w, s)
    known = {r.id for r in known_recipes(w, s)}
    needed = {i for r in known_recipes(w, s) for i in r.inputs}
    materials = [i for i, it in w.items.items() if it.kind == "material" and i not in needed]
    artifacts = [i for i, it in w.items.items() if it.kind == "artifact"
                 and it.effects.attack + it.effects.defense > _power(w, s)]
    kit = [i for i, it in w.items.items()
           if (it.kind == "tool" and not s.count(i))
           or (it.kind == "recipe" and not set(it.effects.recipes) <= known and not s.count(i))]
    choice = (pick(opts, "learn") or pick(opts, "craft")
              or pick(opts, "buy", item_in=gate_items_ahead(w, s) if at_gate(w, s) else ())
              or pick(opts, "sell", item_in=materials)
              or pick(opts, "buy", item_in=kit)
              or pick(opts, "buy", item_in=artifacts)
              or (pick(opts, "buy", item_in=needed) if s.spirit_stones > 200 else None))
    if choice is not None and bot.last_code is None:
        return choice
    return climb(bot, spot=best_spot(w, s), careful=False, earn=earn_by_trading,
                 prefer=("bargain", "take"))


def _power(world: World, state: PlayerState) -> int:
    item = world.items.get(state.equipped or "")
    return item.effects.attack + item.effects.defense if item else 0


def earn_by_trading(bot: Bot) -> Action:
    """Hunt for loot, and take it to the nearest shop that buys once the bag is heavy."""
    w, s = bot.world, bot.state
    needed = {i for r in known_recipes(w, s) for i in r.inputs}
    loot = sum(n for i, n in s.inventory.items()
               if i in w.items and w.items[i].kind == "material" and i not in needed)
    if loot >= 6:
        shops = [sh.location for sh in w.shops.values() if allowed(w, s, sh.location)]
        goal = min(shops, key=lambda loc: _distance(w, s, loc), default=None)
        if goal is not None and goal != s.location:
            hop = next_hop(w, s, goal)
            if hop is not None:
                return Action("travel", target=hop)
    return earn_by_fighting(bot)


def _distance(world: World, state: PlayerState, dest: str) -> int:
    """Hops to ``dest`` (large when unreachable)."""
    here, steps = state, 0
    while here.location != dest and steps < 20:
        hop = next_hop(world, here, dest)
        if hop is None:
            return 99
        here = replace(here, location=hop)
        steps += 1
    return steps


def random_bot(bot: Bot) -> Action:
    """Any action with any plausible target."""
    w, s = bot.world, bot.state
    if s.pending_choice:
        return answer_choice(bot, ())
    kind = bot.rng.choice(["cultivate", "cultivate", "breakthrough", "explore", "travel",
                           "fight", "use_item", "rest", "talk", "prepare", "ascend"])
    loc = w.locations[s.location]
    if kind == "travel":
        return Action("travel", target=bot.rng.choice(sorted(w.neighbors(s.location))))
    if kind == "fight" and loc.monsters:
        return Action("fight", target=bot.rng.choice(loc.monsters))
    if kind == "talk" and loc.npcs:
        return Action("talk", target=bot.rng.choice(loc.npcs))
    if kind == "use_item" and s.inventory:
        return Action("use_item", item=bot.rng.choice(sorted(s.inventory)))
    return Action(kind)


STRATEGIES: dict[str, Decide] = {
    "greedy": greedy,
    "explorer": explorer,
    "fighter": fighter,
    "sect": sect_loyalist,
    "merchant": merchant,
    "random": random_bot,
}
PROBES: dict[str, Decide] = {"village": village}


# --- running ----------------------------------------------------------------------------------

@dataclass
class Run:
    """What one bot's life showed."""

    strategy: str
    reached: dict[str, int] = field(default_factory=dict)  # realm id -> accepted actions
    attempts: int = 0
    refused: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    end_cause: str | None = None
    actions: int = 0
    stones: list[int] = field(default_factory=list)
    locations: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    monsters: set[str] = field(default_factory=set)
    items: set[str] = field(default_factory=set)
    techniques: set[str] = field(default_factory=set)
    tribulations: int = 0


def play(world: World, strategy: str, decide: Decide, seed: int, budget: int) -> Run:
    """One cultivator played by ``decide`` for at most ``budget`` attempted actions."""
    pid = f"bot-{strategy}-{seed}"
    created = new_player(world, strategy, seed)
    state = created.state
    secret = f"{seed:032x}"
    state = replace(state, fate_secret=secret)
    bot = Bot(world, state, random.Random(seed * 7919 + 1), pid)
    run = Run(strategy)
    run.reached[state.realm] = 0
    sample_every = max(1, budget // STONE_SAMPLES)
    for i in range(budget):
        if i % sample_every == 0:
            run.stones.append(bot.state.spirit_stones)
        if bot.state.ended:
            break
        action = decide(bot)
        run.attempts += 1
        try:
            out = apply_action(world, bot.state, action,
                               fate_seed(secret, pid, bot.state.fate_counter))
        except ActionRefused as exc:
            run.refused += 1
            run.refusals[exc.code] += 1
            bot.last_code = exc.code
            if exc.code == "hp_full" or exc.code == "no_effect":
                continue
            continue
        bot.last_code = None
        bot.state = out.state
        _note(run, world, out.state, out.events)
    while len(run.stones) < STONE_SAMPLES:
        run.stones.append(bot.state.spirit_stones)
    run.actions = bot.state.turn
    run.end_cause = bot.state.end_cause
    return run


def _note(run: Run, world: World, state: PlayerState, events: Iterable[dict[str, Any]]) -> None:
    if state.realm not in run.reached:
        run.reached[state.realm] = state.turn
    run.locations.add(state.location)
    run.items.update(state.inventory)
    run.techniques.update(state.techniques)
    if state.equipped:
        run.items.add(state.equipped)
    for ev in events:
        if ev.get("type") == "event" and ev.get("id"):
            run.events.add(str(ev["id"]))
        elif ev.get("type") == "combat":
            run.monsters.add(str(ev["monster"]))
        elif ev.get("type") == "breakthrough" and "tribulation" in ev:
            run.tribulations += 1


# --- the report -------------------------------------------------------------------------------

@dataclass
class Summary:
    """One strategy over its runs."""

    name: str
    runs: list[Run]

    def to_realm(self, realm: str) -> float | None:
        """Median actions to reach ``realm`` over the runs that reached it (None: no run)."""
        values = [r.reached[realm] for r in self.runs if realm in r.reached]
        return statistics.median(values) if values else None

    def reach_share(self, realm: str) -> float:
        return sum(realm in r.reached for r in self.runs) / len(self.runs)

    def peak_or_inf(self) -> float:
        """Median actions to 渡劫, counting runs that never got there as infinite."""
        values = sorted(r.reached.get(PEAK_REALM, float("inf")) for r in self.runs)
        return float(statistics.median(values))

    def deaths(self) -> Counter[str]:
        return Counter(r.end_cause for r in self.runs if r.end_cause)

    def refused_share(self) -> float:
        attempts = sum(r.attempts for r in self.runs)
        return sum(r.refused for r in self.runs) / attempts if attempts else 0.0

    def stones(self) -> list[int]:
        return [int(statistics.median(col)) for col in zip(*(r.stones for r in self.runs),
                                                           strict=True)]


def never_reached(world: World, runs: Iterable[Run]) -> dict[str, list[str]]:
    """Content no bot met: locations, events, monsters, items, techniques."""
    runs = list(runs)
    seen = {
        "locations": set().union(*(r.locations for r in runs)),
        "events": set().union(*(r.events for r in runs)),
        "monsters": set().union(*(r.monsters for r in runs)),
        "items": set().union(*(r.items for r in runs)),
        "techniques": set().union(*(r.techniques for r in runs)),
    }
    every = {"locations": world.locations, "events": world.events, "monsters": world.monsters,
             "items": world.items, "techniques": world.techniques}
    return {kind: sorted(set(every[kind]) - seen[kind]) for kind in every}


@dataclass
class Target:
    """One balance target and whether it holds."""

    name: str
    passed: bool
    detail: str


def check_targets(summaries: dict[str, Summary], probes: dict[str, Summary]) -> list[Target]:
    """Issue 9's targets, measured."""
    out: list[Target] = []
    greedy_runs = summaries["greedy"].runs
    fastest = min(r.reached.get(PEAK_REALM, float("inf")) for r in greedy_runs)
    reached = sum(PEAK_REALM in r.reached for r in greedy_runs)
    out.append(Target(
        "greedy needs >= 3,000 actions to reach 渡劫",
        fastest >= TARGET_MIN_GREEDY and reached > 0,
        f"fastest greedy run: {_fmt(fastest)} actions; {reached}/{len(greedy_runs)} runs got there",
    ))
    village_runs = probes["village"].runs
    world_ranks = {realm: i for r in village_runs for i, realm in enumerate(r.reached)}
    best_village = max(world_ranks, key=lambda k: world_ranks[k], default="-")
    out.append(Target(
        "the start village alone never reaches 渡劫",
        all(PEAK_REALM not in r.reached for r in village_runs),
        f"village probe deaths: {_counts(probes['village'].deaths())}; "
        f"highest realm {best_village}",
    ))
    medians = {n: s.peak_or_inf() for n, s in summaries.items()}
    mid = statistics.median(medians.values())
    quickest = min(medians, key=lambda n: medians[n])
    out.append(Target(
        "no strategy reaches 渡劫 more than 2x faster than the median",
        mid != float("inf") and medians[quickest] * TARGET_MAX_SPEEDUP >= mid,
        f"median of strategies {_fmt(mid)}; fastest {quickest} {_fmt(medians[quickest])}",
    ))
    careless = {n: s.deaths()["old_age"] + s.deaths()["tribulation"]
                for n, s in summaries.items()}
    out.append(Target(
        "some strategies die of old age or 天劫",
        sum(1 for v in careless.values() if v) >= 1,
        ", ".join(f"{n} {v}" for n, v in careless.items() if v) or "nobody died so",
    ))
    return out


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


def _fmt(value: float | None) -> str:
    if value is None or value == float("inf"):
        return "-"
    return f"{value:,.0f}"


def table(world: World, summaries: dict[str, Summary]) -> list[str]:
    """The Markdown table: actions to each major realm and the rest per strategy."""
    realms = [r for r in world.realms[1:]]
    head = ["strategy", *(r.name for r in realms), "deaths", "refused", "stones over time",
            "never reached (loc/event/monster/item/tech)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries.values():
        cells = [s.name]
        for realm in realms:
            share = s.reach_share(realm.id)
            v = s.to_realm(realm.id)
            cells.append(f"{_fmt(v)} ({share:.0%})" if v is not None else "-")
        deaths = ", ".join(f"{k} {v}" for k, v in sorted(s.deaths().items())) or "-"
        unseen = never_reached(world, s.runs)
        cells += [deaths, f"{s.refused_share():.1%}", " → ".join(_short(x) for x in s.stones()),
                  "/".join(str(len(unseen[k])) for k in
                           ("locations", "events", "monsters", "items", "techniques"))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _short(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


def chart(world: World, summaries: dict[str, Summary], path: Path) -> None:
    """Actions to each major realm (left) and spirit stones over time (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    realms = list(world.realms)
    for s in summaries.values():
        xs, ys = [], []
        for i, realm in enumerate(realms):
            v = s.to_realm(realm.id)
            if v is not None:
                xs.append(i)
                ys.append(v)
        left.plot(xs, ys, marker="o", label=s.name)
        right.plot(range(len(s.stones())), [max(1, v) for v in s.stones()], marker=".",
                   label=s.name)
    left.set_xticks(range(len(realms)), [r.id for r in realms], rotation=45)
    left.set_ylabel("actions (median of runs that got there)")
    left.set_title("actions to each major realm")
    left.set_yscale("log")
    left.legend(fontsize=8)
    right.set_yscale("log")
    right.set_xlabel("sample (evenly spaced over the action budget)")
    right.set_ylabel("spirit stones (median)")
    right.set_title("spirit stones over time")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_markdown(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Play every strategy, print and write the report; exit 1 when a target fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="lives per strategy")
    parser.add_argument("--actions", type=int, default=DEFAULT_ACTIONS,
                        help="attempted actions per life (bound)")
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "balance.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    world = load_world(args.data)
    started = time.perf_counter()
    summaries: dict[str, Summary] = {}
    probes: dict[str, Summary] = {}
    for group, source in ((summaries, STRATEGIES), (probes, PROBES)):
        for name, decide in source.items():
            runs = [play(world, name, decide, 1000 + i, args.actions) for i in range(args.runs)]
            group[name] = Summary(name, runs)
    elapsed = time.perf_counter() - started
    total = sum(r.attempts for s in (*summaries.values(), *probes.values()) for r in s.runs)
    targets = check_targets(summaries, probes)
    missing = never_reached(world, (r for s in summaries.values() for r in s.runs))
    lines = [
        "# Balance benchmark",
        "",
        f"Generated by `python -m devtools.balance --runs {args.runs} --actions {args.actions}`:"
        f" {len(summaries)} strategies and {len(probes)} probe, {args.runs} lives each, at most "
        f"{args.actions:,} attempted actions per life, played through `apply_action` in process "
        f"({total:,} actions in {elapsed:.1f} s).",
        "",
        "Cells: median accepted actions to first reach each major realm over the lives that "
        "got there (share of lives in brackets); deaths by cause; share of refused actions; "
        "median spirit stones at evenly spaced points of the budget.",
        "",
        *table(world, summaries),
        "",
        "Probe (not a strategy): the greedy player who never leaves the start village.",
        "",
        *table(world, probes),
        "",
        "![actions to each realm and spirit stones over time](img/balance.png)",
        "",
        "## Targets (issue 9)",
        "",
        *(f"- **{'PASS' if t.passed else 'FAIL'}** {t.name}: {t.detail}" for t in targets),
        "",
        "## How the climb is held back",
        "",
        "- Each realm's `qi_required` grows faster than its `qi_scale`, so every realm takes "
        "more 修炼 than the last; one 修炼 lasts the realm's `cultivate_days`.",
        "- 寿元 is enforced: a life that dawdles dies of old age before its next great "
        "breakthrough (the village probe always does).",
        "- Major breakthroughs need a gate pill or `prepare` points bought with spirit stones; "
        "元婴 and above meet a 天劫 whose odds preparation, a worn artifact and the place raise. "
        "Strategies that prepare only what the gate demands (greedy, fighter, merchant) die of "
        "天劫 more often; careful ones (explorer, sect) prepare fully.",
        "- Defeats cost days, qi, spirit stones and an injury, and a foe of a higher realm can "
        "kill (the random bot's usual end).",
        "",
        "## Content never reached by any strategy",
        "",
        *(f"- {kind}: {', '.join(ids) if ids else 'none'}" for kind, ids in missing.items()),
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_markdown(args.out, lines)
        chart(world, summaries, args.out.parent / "img" / "balance.png")
        print(f"\nwrote {args.out} and {args.out.parent / 'img' / 'balance.png'}")
    return 0 if all(t.passed for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
