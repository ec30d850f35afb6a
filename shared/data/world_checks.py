"""Cross-reference and content checks of the gameworld files: sects, shops, recipes, quests and
economy.json, and the holes check (every item, technique, recipe, material and monster has a
way in and a use). Run by the loader after :func:`shared.data.checks.check_all`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from shared.data.checks import Parsed, Problems, _ref
from shared.data.errors import DataProblem
from shared.data.models import Event, Item, Monster
from shared.data.world_models import Quest, Recipe, Reward, Sect, Shop, Step


def check_world(p: Parsed) -> Problems:
    """Every gameworld check; an empty list means these files are sound."""
    out: Problems = []
    for check in WORLD_CHECKS:
        check(p, out)
    return out



def _step(p: Parsed, out: Problems, file: str, entry: str, base: str, st: Step) -> None:
    _ref(out, p, "locations", st.location, file, entry, f"{base}.location")
    _ref(out, p, "monsters", st.monster, file, entry, f"{base}.monster")
    _ref(out, p, "realms", st.min_realm, file, entry, f"{base}.min_realm")
    for item_id in st.items:
        _ref(out, p, "items", item_id, file, entry, f"{base}.items.{item_id}")
    needs = {"deliver": (st.location and st.items), "hunt": (st.location and st.monster),
             "visit": st.location, "labour": (st.location and st.days), "realm": st.min_realm}
    if not needs[st.kind]:
        what = {"deliver": "location and items", "hunt": "location and monster",
                "visit": "location", "labour": "location and days", "realm": "min_realm"}
        out.append(DataProblem(file, entry, base, f"a {st.kind} step needs {what[st.kind]}"))
    if st.kind == "hunt" and st.monster and st.location:
        monsters = {loc.id: loc.monsters for loc in p.valid("locations")}
        if st.location in monsters and st.monster not in monsters[st.location]:
            out.append(DataProblem(file, entry, f"{base}.monster",
                                   f"{st.monster!r} does not live at {st.location!r}"))


def _reward(p: Parsed, out: Problems, file: str, entry: str, base: str, r: Reward) -> None:
    for item_id in r.items:
        _ref(out, p, "items", item_id, file, entry, f"{base}.items.{item_id}")


def _sects(p: Parsed, out: Problems) -> None:
    f = "sects.json"
    s: Sect
    for s in p.valid("sects"):
        _ref(out, p, "locations", s.location, f, s.id, "location")
        _ref(out, p, "npcs", s.master, f, s.id, "master")
        _ref(out, p, "realms", s.trial.min_realm, f, s.id, "trial.min_realm")
        _ref(out, p, "monsters", s.trial.fight, f, s.id, "trial.fight")
        for item_id in s.trial.items:
            _ref(out, p, "items", item_id, f, s.id, f"trial.items.{item_id}")
        for i, rank in enumerate(s.ranks):
            _ref(out, p, "realms", rank.min_realm, f, s.id, f"ranks[{i}].min_realm")
        for key in ("rivals", "allies"):
            for i, other in enumerate(getattr(s, key)):
                _ref(out, p, "sects", other, f, s.id, f"{key}[{i}]")
                if other == s.id:
                    out.append(DataProblem(f, s.id, f"{key}[{i}]", "a sect cannot list itself"))
        for key in ("member_events", "rival_events"):
            for ev in getattr(s, key):
                _ref(out, p, "events", ev, f, s.id, f"{key}.{ev}")
        seen: set[str] = set()
        for i, m in enumerate(s.missions):
            if m.id in seen:
                out.append(DataProblem(f, s.id, f"missions[{i}].id", "duplicate mission id"))
            seen.add(m.id)
            if m.min_rank >= len(s.ranks):
                out.append(DataProblem(f, s.id, f"missions[{i}].min_rank", "no such rank"))
            if m.step.kind == "realm":
                out.append(DataProblem(f, s.id, f"missions[{i}].step.kind",
                                       "a mission cannot be a realm step"))
            _step(p, out, f, s.id, f"missions[{i}].step", m.step)
            _reward(p, out, f, s.id, f"missions[{i}].reward", m.reward)
            if not m.reward.contribution:
                out.append(DataProblem(f, s.id, f"missions[{i}].reward.contribution",
                                       "a mission must earn 贡献"))
        for i, ex in enumerate(s.exchange):
            _ref(out, p, "items", ex.item, f, s.id, f"exchange[{i}].item")
            if ex.min_rank >= len(s.ranks):
                out.append(DataProblem(f, s.id, f"exchange[{i}].min_rank", "no such rank"))
    homes = Counter(s.location for s in p.valid("sects"))
    for loc_id, n in homes.items():
        if n > 1:
            out.append(DataProblem(f, "-", "location", f"{n} sects share {loc_id!r}"))


def _shops(p: Parsed, out: Problems) -> None:
    f = "shops.json"
    placed = {loc.id: loc.npcs for loc in p.valid("locations")}
    sh: Shop
    for sh in p.valid("shops"):
        _ref(out, p, "locations", sh.location, f, sh.id, "location")
        _ref(out, p, "npcs", sh.owner, f, sh.id, "owner")
        if sh.owner and sh.location in placed and sh.owner not in placed[sh.location]:
            out.append(DataProblem(f, sh.id, "owner", f"{sh.owner!r} does not live at "
                                                      f"{sh.location!r}"))
        for i, e in enumerate(sh.entries):
            _ref(out, p, "items", e.item, f, sh.id, f"entries[{i}].item")
            _ref(out, p, "realms", e.min_realm, f, sh.id, f"entries[{i}].min_realm")
            if e.min_favour and not sh.owner:
                out.append(DataProblem(f, sh.id, f"entries[{i}].min_favour",
                                       "favour needs a shop owner"))


def _recipes(p: Parsed, out: Problems) -> None:
    f = "recipes.json"
    r: Recipe
    for r in p.valid("recipes"):
        _ref(out, p, "items", r.output, f, r.id, "output")
        _ref(out, p, "realms", r.min_realm, f, r.id, "min_realm")
        for item_id in r.inputs:
            _ref(out, p, "items", item_id, f, r.id, f"inputs.{item_id}")
        if r.output in r.inputs:
            out.append(DataProblem(f, r.id, "output", "a recipe cannot consume its own output"))


def _quests(p: Parsed, out: Problems) -> None:
    f = "quests.json"
    placed = {loc.id: set(loc.npcs) for loc in p.valid("locations")}
    q: Quest
    for q in p.valid("quests"):
        _ref(out, p, "npcs", q.giver, f, q.id, "giver")
        _ref(out, p, "realms", q.min_realm, f, q.id, "min_realm")
        _ref(out, p, "quests", q.requires, f, q.id, "requires")
        if q.requires == q.id:
            out.append(DataProblem(f, q.id, "requires", "a quest cannot require itself"))
        if p.complete("locations") and q.giver in {n.id for n in p.valid("npcs")} and not any(
                q.giver in npcs for npcs in placed.values()):
            out.append(DataProblem(f, q.id, "giver", "the giver lives nowhere"))
        for i, st in enumerate(q.steps):
            _step(p, out, f, q.id, f"steps[{i}]", st)
        _reward(p, out, f, q.id, "reward", q.reward)


def _economy(p: Parsed, out: Problems) -> None:
    e = p.economy
    if e is None:
        return
    f = "economy.json"
    lv = e.favour.levels
    if [x.min for x in lv] != sorted({x.min for x in lv}) or lv[0].min > e.favour.min:
        out.append(DataProblem(f, "economy", "favour.levels",
                               "levels must rise strictly and the first must cover favour.min"))
    c = e.crafting
    if c.min_chance > c.max_chance:
        out.append(DataProblem(f, "economy", "crafting.max_chance", "below min_chance"))
    for i, r in enumerate(c.start_recipes):
        _ref(out, p, "recipes", r, f, "economy", f"crafting.start_recipes[{i}]")
    for loc_id in c.places:
        _ref(out, p, "locations", loc_id, f, "economy", f"crafting.places.{loc_id}")
    for t in c.techniques:
        _ref(out, p, "techniques", t, f, "economy", f"crafting.techniques.{t}")


_WORLD_KINDS = ("items", "techniques", "monsters", "npcs", "locations", "events", "sects",
                "shops", "recipes", "quests")


def _holes(p: Parsed, out: Problems) -> None:
    """Every item, technique, recipe and monster needs a way in and a use (or a meeting).

    Ways in chain: a monster's loot counts only if the monster is met somewhere, a recipe's
    output only if the recipe can be learnt, a manual's technique only if the manual has a way in.
    """
    if not all(p.complete(k) for k in _WORLD_KINDS) or p.rules is None or p.economy is None:
        return  # broken files are reported already; holes would only echo them
    items: dict[str, Item] = {i.id: i for i in p.valid("items")}
    recipes: dict[str, Recipe] = {r.id: r for r in p.valid("recipes")}
    sects: list[Sect] = p.valid("sects")
    quests: list[Quest] = p.valid("quests")
    events: list[Event] = p.valid("events")
    steps = [st for q in quests for st in q.steps] + [m.step for s in sects for m in s.missions]
    rewards = [q.reward for q in quests] + [m.reward for s in sects for m in s.missions]

    # every effect an event can have: its outcomes and its choices' outcomes (gamecore)
    effects = [o.effects for ev in events for o in ev.outcomes]
    effects += [o.effects for ev in events for c in getattr(ev, "choices", None) or ()
                for o in c.outcomes]
    met: set[str] = {m for loc in p.valid("locations") for m in loc.monsters}
    met |= {e.fight for e in effects if e.fight}
    met |= {st.monster for st in steps if st.monster}
    met |= {s.trial.fight for s in sects if s.trial.fight}

    has_way: set[str] = set(p.rules.start_items)
    has_way |= {i for e in effects for i, n in e.items.items() if n > 0}
    for npc in p.valid("npcs"):
        has_way |= set(npc.gift.items) if npc.gift else set()
        has_way |= {i for fg in npc.favour_gifts for i in fg.items}
    has_way |= {e.item for sh in p.valid("shops") for e in sh.entries}
    has_way |= {e.item for s in sects for e in s.exchange}
    has_way |= {i for r in rewards for i in r.items}
    monsters: list[Monster] = p.valid("monsters")
    has_way |= {d.item for m in monsters if m.id in met for d in m.loot}
    known_recipes: set[str] = set(p.economy.crafting.start_recipes)
    while True:  # recipes learnt from recipe items, whose outputs may be recipe items again
        learnt = {r for i in has_way if i in items for r in items[i].effects.recipes}
        grown = known_recipes | learnt
        outputs = {recipes[r].output for r in grown if r in recipes}
        if grown == known_recipes and outputs <= has_way:
            break
        known_recipes, has_way = grown, has_way | outputs

    used: set[str] = {i for st in steps for i in st.items}
    used |= {i for r in recipes.values() for i in r.inputs}
    used |= {i for s in sects for i in s.trial.items}
    used |= {ev.conditions.requires_item for ev in events if ev.conditions.requires_item}
    craft_kinds = {r.kind for r in recipes.values()}
    for item in items.values():
        if item.id not in has_way:
            out.append(DataProblem("items.json", item.id, "-",
                                   "no way in: nothing drops, gives, sells, rewards or makes it"))
        if item.kind == "material" and item.id not in used:
            out.append(DataProblem("items.json", item.id, "kind",
                                   "no use: no recipe, quest, mission, trial or event needs it"))
        if item.kind == "tool" and not (
                (item.effects.alchemy_bonus and "alchemy" in craft_kinds)
                or (item.effects.forging_bonus and "forging" in craft_kinds)):
            out.append(DataProblem("items.json", item.id, "effects",
                                   "no use: no recipe of the craft this tool helps"))
    taught = set(p.rules.start_techniques)
    taught |= {e.technique for e in effects if e.technique}
    taught |= {t for i in has_way if i in items and (t := items[i].effects.teaches)}
    for t in p.valid("techniques"):
        if t.id not in taught:
            out.append(DataProblem("techniques.json", t.id, "-",
                                   "no way in: no start, event or obtainable manual teaches it"))
    tools = {k for i in has_way if i in items for k, b in (
        ("alchemy", items[i].effects.alchemy_bonus), ("forging", items[i].effects.forging_bonus))
        if b}
    for r in recipes.values():
        if r.id not in known_recipes:
            out.append(DataProblem("recipes.json", r.id, "-",
                                   "no way in: no start recipe or obtainable recipe item"))
        if r.kind not in tools:
            out.append(DataProblem("recipes.json", r.id, "kind",
                                   f"no use: no obtainable furnace for {r.kind}"))
    for m in monsters:
        if m.id not in met:
            out.append(DataProblem("monsters.json", m.id, "-",
                                   "never met: no location, event, quest, mission or trial"))


def _choice_favour(p: Parsed, out: Problems) -> None:
    """An NPC's ``choice_favour`` names a real event and one of its choice options."""
    events = {ev.id: ev for ev in p.valid("events")}
    for npc in p.valid("npcs"):
        for i, cf in enumerate(npc.choice_favour):
            _ref(out, p, "events", cf.event, "npcs.json", npc.id, f"choice_favour[{i}].event")
            ev = events.get(cf.event)
            options = {c.id for c in getattr(ev, "choices", None) or ()}
            if ev is not None and cf.option not in options:
                out.append(DataProblem("npcs.json", npc.id, f"choice_favour[{i}].option",
                                       f"event {cf.event!r} has no choice option {cf.option!r}"))


WORLD_CHECKS: tuple[Callable[[Parsed, Problems], None], ...] = (
    _sects, _shops, _recipes, _quests, _economy, _choice_favour, _holes,
)
