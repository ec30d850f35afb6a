"""Cross-reference checks over schema-valid entries: ids, order, graph, reachability, prompts.

References are resolved against every id written in the files (even in entries that failed
their schema), so one broken entry does not also show up as a cascade of "unknown id" problems.
"""

from __future__ import annotations

import string
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.data.errors import DataProblem
from shared.data.models import (
    Event,
    Item,
    Location,
    Monster,
    Npc,
    PromptFile,
    Realm,
    Rules,
    Technique,
)
from shared.data.prompt_fields import (
    EARLIER_FIELDS,
    NARRATION_KINDS,
    PERSONA_FIELDS,
    RAW_KIND,
    RECALL_FIELDS,
    SUMMARY_KIND,
    WHEN_VALUES,
    allowed_fields,
)
from shared.data.world_models import EconomyRules

Problems = list[DataProblem]


@dataclass
class Parsed:
    """What the files hold after schema validation: valid entries and every id written."""

    entries: dict[str, list[Any]] = field(default_factory=dict)
    raw_ids: dict[str, list[str]] = field(default_factory=dict)
    raw_counts: dict[str, int] = field(default_factory=dict)
    prompt_kinds: set[str] = field(default_factory=set)  # every kind written in prompts.json
    rules: Rules | None = None
    prompts: PromptFile | None = None
    economy: EconomyRules | None = None

    def ids(self, kind: str) -> set[str] | None:
        """Every id written in ``kind``'s file; None when the file could not be read at all."""
        ids = self.raw_ids.get(kind)
        return None if ids is None else set(ids)

    def valid(self, kind: str) -> list[Any]:
        """The schema-valid entries of ``kind``."""
        return self.entries.get(kind, [])

    @property
    def favour_names(self) -> frozenset[str] | None:
        """The favour levels' names (None when economy.json could not be read)."""
        if self.economy is None:
            return None
        return frozenset(level.name for level in self.economy.favour.levels)

    def complete(self, kind: str) -> bool:
        """True when the file was read and every entry in it is valid."""
        return kind in self.raw_counts and len(self.valid(kind)) == self.raw_counts[kind]


def routes_of(locations: Iterable[Location]) -> dict[str, dict[str, int]]:
    """The symmetric travel graph: a route declared at either end is walkable both ways."""
    graph: dict[str, dict[str, int]] = {}
    for loc in locations:
        graph.setdefault(loc.id, {})
        for ex in loc.exits:
            graph[loc.id][ex.to] = ex.cost
            graph.setdefault(ex.to, {})[loc.id] = ex.cost
    return graph


def check_all(p: Parsed) -> Problems:
    """Run every cross-reference check; an empty list means the world is sound."""
    out: Problems = []
    for check in (_duplicates, _realms, _locations, _events, _items, _techniques, _monsters,
                  _npcs, _rules, _prompts, _stakes):
        check(p, out)
    return out


def _ref(
    out: Problems, p: Parsed, kind: str, value: str | None, file: str, entry: str, fld: str
) -> None:
    """Record a problem when ``value`` is not an id of ``kind`` (unless that file is unreadable,
    which is already reported and would otherwise make every reference look wrong)."""
    known = p.ids(kind)
    if value is not None and known is not None and value not in known:
        out.append(DataProblem(file, entry, fld, f"unknown {kind[:-1]} id {value!r}"))


def _duplicates(p: Parsed, out: Problems) -> None:
    for kind, ids in p.raw_ids.items():
        for dup, n in Counter(ids).items():
            if n > 1:
                out.append(DataProblem(f"{kind}.json", dup, "id", f"duplicate id ({n} entries)"))
    for kind in ("realms", "roots", "locations"):
        if kind in p.raw_ids and not p.raw_ids[kind]:
            out.append(DataProblem(f"{kind}.json", "-", "-", f"at least one {kind[:-1]} needed"))


def _realms(p: Parsed, out: Problems) -> None:
    realms: Sequence[Realm] = p.valid("realms")
    previous_rank = 0
    previous_qi = 0
    for realm in realms:
        if realm.rank != previous_rank + 1:
            out.append(DataProblem(
                "realms.json", realm.id, "rank",
                f"realms out of order: rank {realm.rank} follows rank {previous_rank} "
                f"(list realms lowest first, ranks 1, 2, 3, ...)",
            ))
        previous_rank = realm.rank
        for i, stage in enumerate(realm.stages):
            if stage.qi_required <= previous_qi:
                out.append(DataProblem(
                    "realms.json", realm.id, f"stages[{i}].qi_required",
                    f"qi_required {stage.qi_required} must exceed the previous stage's "
                    f"{previous_qi} (stages out of order)",
                ))
            previous_qi = stage.qi_required


def _locations(p: Parsed, out: Problems) -> None:
    locations: Sequence[Location] = p.valid("locations")
    f = "locations.json"
    declared: dict[frozenset[str], int] = {}
    for loc in locations:
        _ref(out, p, "realms", loc.min_realm, f, loc.id, "min_realm")
        for i, m in enumerate(loc.monsters):
            _ref(out, p, "monsters", m, f, loc.id, f"monsters[{i}]")
        for i, n in enumerate(loc.npcs):
            _ref(out, p, "npcs", n, f, loc.id, f"npcs[{i}]")
        for i, ex in enumerate(loc.exits):
            fld = f"exits[{i}].to"
            if ex.to == loc.id:
                out.append(DataProblem(f, loc.id, fld, "a route cannot lead to its own start"))
                continue
            _ref(out, p, "locations", ex.to, f, loc.id, fld)
            pair = frozenset((loc.id, ex.to))
            if pair in declared and declared[pair] != ex.cost:
                out.append(DataProblem(
                    f, loc.id, f"exits[{i}].cost",
                    f"route to {ex.to!r} is declared twice with different costs "
                    f"({declared[pair]} and {ex.cost})",
                ))
            declared[pair] = ex.cost
    _reachability(p, locations, out)


def _reachability(p: Parsed, locations: Sequence[Location], out: Problems) -> None:
    start = p.rules.start_location if p.rules else None
    if not p.complete("locations"):
        return  # a broken entry's routes are unknown: reachability would only echo it
    if start is None or start not in {loc.id for loc in locations}:
        return  # the start itself is reported by _rules
    graph = routes_of(locations)
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in graph.get(queue.popleft(), {}):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    for loc in locations:
        if loc.id not in seen:
            out.append(DataProblem(
                "locations.json", loc.id, "exits",
                f"unreachable: no chain of routes leads here from the start {start!r}",
            ))


def _realm_rank(p: Parsed) -> Callable[[str | None, int], int]:
    ranks = {r.id: i for i, r in enumerate(p.valid("realms"))}

    def rank(realm_id: str | None, default: int) -> int:
        return ranks.get(realm_id, default) if realm_id is not None else default

    return rank


def _events(p: Parsed, out: Problems) -> None:
    f = "events.json"
    rank = _realm_rank(p)
    top = max(len(p.valid("realms")) - 1, 0)
    locations = {loc.id: loc for loc in p.valid("locations")}
    techniques = {t.id: t for t in p.valid("techniques")}
    ev: Event
    for ev in p.valid("events"):
        c = ev.conditions
        for i, loc_id in enumerate(c.locations or ()):
            _ref(out, p, "locations", loc_id, f, ev.id, f"conditions.locations[{i}]")
        _ref(out, p, "realms", c.min_realm, f, ev.id, "conditions.min_realm")
        _ref(out, p, "realms", c.max_realm, f, ev.id, "conditions.max_realm")
        _ref(out, p, "items", c.requires_item, f, ev.id, "conditions.requires_item")
        _ref(out, p, "techniques", c.lacks_technique, f, ev.id, "conditions.lacks_technique")
        lo, hi = rank(c.min_realm, 0), rank(c.max_realm, top)
        if lo > hi:
            out.append(DataProblem(f, ev.id, "conditions.max_realm",
                                   "max_realm is below min_realm"))
        for i, outcome in enumerate(ev.outcomes):
            _event_effects(p, out, ev, i, outcome.effects, techniques, rank, lo)
        candidates = [locations[x] for x in (c.locations or locations) if x in locations]
        if candidates and not any(
            loc.danger >= c.min_danger and rank(loc.min_realm, 0) <= hi for loc in candidates
        ):
            out.append(DataProblem(
                f, ev.id, "conditions",
                "can never happen: no listed location has the danger, or admits a realm "
                "within the event's range",
            ))


def _event_effects(
    p: Parsed,
    out: Problems,
    ev: Event,
    i: int,
    eff: Any,
    techniques: dict[str, Technique],
    rank: Callable[[str | None, int], int],
    min_rank: int,
) -> None:
    f = "events.json"
    base = f"outcomes[{i}].effects"
    for item_id, count in eff.items.items():
        _ref(out, p, "items", item_id, f, ev.id, f"{base}.items.{item_id}")
        if count == 0:
            out.append(DataProblem(f, ev.id, f"{base}.items.{item_id}", "count must not be 0"))
        elif count < 0 and item_id != ev.conditions.requires_item:
            out.append(DataProblem(
                f, ev.id, f"{base}.items.{item_id}",
                "an event may only take an item its conditions require (requires_item)",
            ))
    _ref(out, p, "monsters", eff.fight, f, ev.id, f"{base}.fight")
    _ref(out, p, "techniques", eff.technique, f, ev.id, f"{base}.technique")
    tech = techniques.get(eff.technique or "")
    if tech is not None and rank(tech.min_realm, 0) > min_rank:
        out.append(DataProblem(
            f, ev.id, f"{base}.technique",
            f"technique {tech.id!r} needs realm {tech.min_realm!r}, above the event's min_realm",
        ))


def _items(p: Parsed, out: Problems) -> None:
    f = "items.json"
    item: Item
    for item in p.valid("items"):
        e = item.effects
        for i, r in enumerate(e.recipes):
            _ref(out, p, "recipes", r, f, item.id, f"effects.recipes[{i}]")
        _ref(out, p, "realms", e.for_realm, f, item.id, "effects.for_realm")
        _ref(out, p, "techniques", e.teaches, f, item.id, "effects.teaches")
        has_effect = any((e.hp, e.qi, e.max_hp, e.attack, e.defense, e.spirit_stones,
                          e.breakthrough_bonus, e.teaches))
        problem = None
        if item.kind == "material" and has_effect:
            problem = ("effects", "materials cannot be used, so they have no effects")
        elif item.kind == "pill" and not has_effect:
            problem = ("effects", "a pill needs at least one effect")
        elif item.kind == "artifact" and (not (e.attack or e.defense) or e.teaches
                                          or e.hp or e.qi or e.breakthrough_bonus):
            problem = ("effects", "an artifact gives attack and/or defense only")
        elif item.kind == "manual" and e.teaches is None:
            problem = ("effects.teaches", "a manual must teach a technique")
        elif item.kind != "manual" and e.teaches is not None:
            problem = ("effects.teaches", "only a manual teaches")
        elif (item.kind == "recipe") != bool(e.recipes):
            problem = ("effects.recipes", "a recipe item (and only one) teaches recipes")
        elif (item.kind == "tool") != bool(e.alchemy_bonus or e.forging_bonus) or (
                item.kind == "tool" and has_effect):
            problem = ("effects", "a tool (and only a tool) has alchemy_bonus/forging_bonus")
        elif e.for_realm is not None and not e.breakthrough_bonus:
            problem = ("effects.for_realm", "for_realm needs a breakthrough_bonus")
        if problem:
            out.append(DataProblem(f, item.id, *problem))


def _techniques(p: Parsed, out: Problems) -> None:
    t: Technique
    for t in p.valid("techniques"):
        _ref(out, p, "realms", t.min_realm, "techniques.json", t.id, "min_realm")


def _monsters(p: Parsed, out: Problems) -> None:
    f = "monsters.json"
    m: Monster
    for m in p.valid("monsters"):
        _ref(out, p, "realms", m.realm, f, m.id, "realm")
        if m.spirit_stones[0] > m.spirit_stones[1]:
            out.append(DataProblem(f, m.id, "spirit_stones", "minimum above maximum"))
        for i, drop in enumerate(m.loot):
            _ref(out, p, "items", drop.item, f, m.id, f"loot[{i}].item")
            if drop.min > drop.max:
                out.append(DataProblem(f, m.id, f"loot[{i}].max", "max below min"))


def _npcs(p: Parsed, out: Problems) -> None:
    f = "npcs.json"
    placed = {n for loc in p.valid("locations") for n in loc.npcs}
    check_placed = p.complete("locations")  # else an invalid location hides its residents
    npc: Npc
    for npc in p.valid("npcs"):
        _ref(out, p, "realms", npc.realm, f, npc.id, "realm")
        for item_id in npc.gift.items if npc.gift else ():
            _ref(out, p, "items", item_id, f, npc.id, f"gift.items.{item_id}")
        for i, item_id in enumerate(npc.likes):
            _ref(out, p, "items", item_id, f, npc.id, f"likes[{i}]")
        for i, fg in enumerate(npc.favour_gifts):
            for item_id in fg.items:
                _ref(out, p, "items", item_id, f, npc.id, f"favour_gifts[{i}].items.{item_id}")
        if check_placed and npc.id not in placed:
            out.append(DataProblem(f, npc.id, "id", "not placed at any location (npcs list)"))
        for i, remark in enumerate(npc.remarks):
            check_when(out, f, npc.id, f"remarks[{i}]", remark.when, p.favour_names)
            if not remark.when:
                out.append(DataProblem(f, npc.id, f"remarks[{i}]",
                                       "a remark without conditions belongs in lines"))


def check_when(out: Problems, f: str, entry: str, fld: str, when: Mapping[Any, Any],
               favour_names: frozenset[str] | None) -> None:
    """Record a problem for each condition of ``when`` that compares with a value it can never
    take (a place kind, tier, topic or favour level that does not exist, a flag that is not a
    boolean)."""
    for name, wanted in when.items():
        values = list(wanted) if isinstance(wanted, list | tuple) else [wanted]
        known = favour_names if name == "favour" else WHEN_VALUES.get(name)
        if name == "favour" and known is None:
            continue  # economy.json is unreadable: already reported
        for value in values:
            if known is None:
                if not isinstance(value, bool):
                    out.append(DataProblem(f, entry, f"{fld}.when.{name}",
                                           f"{name} is true or false, not {value!r}"))
            elif not isinstance(value, str) or value not in known:
                out.append(DataProblem(f, entry, f"{fld}.when.{name}",
                                       f"unknown {name} {value!r} (known: "
                                       f"{', '.join(sorted(known))})"))


def _rules(p: Parsed, out: Problems) -> None:
    r = p.rules
    if r is None:
        return
    f = "rules.json"
    _ref(out, p, "locations", r.start_location, f, "rules", "start_location")
    for item_id in r.start_items:
        _ref(out, p, "items", item_id, f, "rules", f"start_items.{item_id}")
    for i, t in enumerate(r.start_techniques):
        _ref(out, p, "techniques", t, f, "rules", f"start_techniques[{i}]")
    if r.min_breakthrough_chance > r.max_breakthrough_chance:
        out.append(DataProblem(f, "rules", "max_breakthrough_chance",
                               "below min_breakthrough_chance"))


def _prompts(p: Parsed, out: Problems) -> None:
    pf = p.prompts
    if pf is None:
        return
    f = "prompts.json"
    required = {*NARRATION_KINDS, RAW_KIND, SUMMARY_KIND}
    if "{" in pf.system:
        out.append(DataProblem(f, "-", "system", "the system prompt takes no placeholders "
                               "(it is sent byte-identical so the prompt cache can hit)"))
    for kind in sorted(required - p.prompt_kinds):
        out.append(DataProblem(f, kind, "-", "missing template for this narration kind"))
    for kind in sorted(p.prompt_kinds - required):
        out.append(DataProblem(f, kind, "-", f"unknown narration kind (known: "
                                             f"{', '.join(sorted(required))})"))
    for kind, template in pf.kinds.items():
        if kind not in required:
            continue
        allowed = allowed_fields(kind)
        texts = [("system", template.system), ("user", template.user)]
        texts += [(f"offline[{i}]", t) for i, t in enumerate(template.offline)]
        texts += [(f"parts[{i}][{j}]", frag.text) for i, slot in enumerate(template.parts)
                  for j, frag in enumerate(slot)]
        if template.parts and not any(not frag.when for frag in template.parts[0]):
            out.append(DataProblem(f, kind, "parts[0]",
                                   "the first slot needs a fragment without conditions"))
        for fld, text in texts:
            if text is not None:
                _placeholders(out, kind, fld, text, allowed)
        for fld, text, names in (("persona", template.persona, PERSONA_FIELDS),
                                 ("recall", template.recall, RECALL_FIELDS),
                                 ("earlier", template.earlier, EARLIER_FIELDS)):
            if text is not None:
                _placeholders(out, kind, fld, text, names)
        for i, slot in enumerate(template.parts):
            for j, frag in enumerate(slot):
                check_when(out, f, kind, f"parts[{i}][{j}]", frag.when, p.favour_names)
        if template.system and kind != RAW_KIND and "{" in template.system:
            out.append(DataProblem(f, kind, "system", "the system prompt takes no placeholders "
                                   "(it is sent byte-identical so the prompt cache can hit)"))
        if kind == RAW_KIND and "{prompt}" not in template.user:
            out.append(DataProblem(f, kind, "user", "must contain {prompt}"))
    locations = p.ids("locations")
    if pf.place_kinds and locations is not None:
        for loc_id in sorted(set(pf.place_kinds) - locations):
            out.append(DataProblem(f, "place_kinds", loc_id, "unknown location"))
        for loc_id in sorted(locations - set(pf.place_kinds)):
            out.append(DataProblem(f, "place_kinds", loc_id,
                                   "location has no place kind (village/town/wild/sect/secret)"))


def _placeholders(out: Problems, kind: str, fld: str, text: str, allowed: frozenset[str]) -> None:
    f = "prompts.json"
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        out.append(DataProblem(f, kind, fld, f"bad template: {exc}"))
        return
    for name in names:
        if name not in allowed:
            out.append(DataProblem(
                f, kind, fld,
                f"unknown placeholder {{{name}}} (allowed: {', '.join(sorted(allowed))})",
            ))


# --- gamecore (issue 9): gates, 天劫 and event choices ---
def _stakes(p: Parsed, out: Problems) -> None:
    """Realm gates name real items; event choices are 2-3 with distinct ids and real refs."""
    realm: Realm
    for realm in p.valid("realms"):
        for i, item_id in enumerate(realm.gate.items if realm.gate else ()):
            _ref(out, p, "items", item_id, "realms.json", realm.id, f"gate.items[{i}]")
    if p.valid("realms") and p.valid("realms")[0].gate is not None:
        out.append(DataProblem("realms.json", p.valid("realms")[0].id, "gate",
                               "the first realm is never broken into, so it has no gate"))
    f = "events.json"
    ev: Event
    for ev in p.valid("events"):
        if not ev.choices:
            continue
        if len(ev.choices) < 2:
            out.append(DataProblem(f, ev.id, "choices", "a choice needs 2 or 3 options"))
        if all(c.cost for c in ev.choices):
            out.append(DataProblem(f, ev.id, "choices", "one option must be free, or a player "
                                                        "without spirit stones is locked in"))
        for dup, n in Counter(c.id for c in ev.choices).items():
            if n > 1:
                out.append(DataProblem(f, ev.id, "choices", f"option id {dup!r} used {n} times"))
        for ci, choice in enumerate(ev.choices):
            for oi, outcome in enumerate(choice.outcomes):
                eff = outcome.effects
                base = f"choices[{ci}].outcomes[{oi}].effects"
                for item_id in eff.items:
                    _ref(out, p, "items", item_id, f, ev.id, f"{base}.items.{item_id}")
                _ref(out, p, "monsters", eff.fight, f, ev.id, f"{base}.fight")
                _ref(out, p, "techniques", eff.technique, f, ev.id, f"{base}.technique")
    r = p.rules
    if r is not None and r.stakes.min_tribulation_survival > r.stakes.max_tribulation_survival:
        out.append(DataProblem("rules.json", "rules", "stakes.max_tribulation_survival",
                               "below min_tribulation_survival"))
# --- end gamecore ---
