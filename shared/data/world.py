"""The loaded, validated, read-only world."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from shared.data.models import (
    Event,
    Item,
    Location,
    Monster,
    Npc,
    PromptTemplate,
    Realm,
    Root,
    Rules,
    Technique,
)
from shared.data.world_models import EconomyRules, Quest, Recipe, Sect, Shop


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, eq=False)
class World:
    """Everything in ``data/``. Build it with :func:`shared.data.load_world`, never by hand.

    ``realms`` is ordered (练气 first); the other kinds map id -> frozen model. ``routes`` is the
    travel graph made symmetric: ``routes[a][b]`` is the cost in days from ``a`` to ``b``.
    ``prompts`` maps a narration kind to its template, the shared system prompt filled in.
    """

    CATALOG_KINDS: ClassVar[tuple[str, ...]] = (
        "realms", "roots", "locations", "items", "techniques", "monsters", "npcs",
        "sects", "shops", "recipes", "quests",
    )

    realms: tuple[Realm, ...]
    roots: Mapping[str, Root]
    locations: Mapping[str, Location]
    events: Mapping[str, Event]
    items: Mapping[str, Item]
    techniques: Mapping[str, Technique]
    monsters: Mapping[str, Monster]
    npcs: Mapping[str, Npc]
    prompts: Mapping[str, PromptTemplate]
    rules: Rules
    routes: Mapping[str, Mapping[str, int]]
    realm_ranks: Mapping[str, int]  # realm id -> index in ``realms``
    # sects, economy, crafting, favour, quests
    sects: Mapping[str, Sect] = field(default_factory=_empty)
    shops: Mapping[str, Shop] = field(default_factory=_empty)
    recipes: Mapping[str, Recipe] = field(default_factory=_empty)
    quests: Mapping[str, Quest] = field(default_factory=_empty)
    economy: EconomyRules | None = None  # always set by the loader

    def realm(self, realm_id: str) -> Realm:
        """The realm with this id (KeyError if unknown)."""
        return self.realms[self.realm_ranks[realm_id]]

    def realm_index(self, realm_id: str | None, default: int = 0) -> int:
        """0-based position of a realm; ``default`` for None."""
        if realm_id is None:
            return default
        return self.realm_ranks[realm_id]

    def neighbors(self, location_id: str) -> Mapping[str, int]:
        """Locations one route away, with the cost in days."""
        return self.routes.get(location_id, {})

    def catalog(self, kind: str) -> list[dict[str, Any]]:
        """JSON-safe entries of one kind for the read-only API (a fresh list each call)."""
        if kind not in self.CATALOG_KINDS:
            raise KeyError(f"unknown catalog kind {kind!r}; choose one of {self.CATALOG_KINDS}")
        if kind == "realms":
            return [r.model_dump(mode="json") for r in self.realms]
        if kind == "locations":
            return [self._location_entry(loc) for loc in self.locations.values()]
        entries: Mapping[str, Any] = getattr(self, kind)
        return [e.model_dump(mode="json") for e in entries.values()]

    def _location_entry(self, loc: Location) -> dict[str, Any]:
        entry = loc.model_dump(mode="json", exclude={"exits"})
        # Routes are declared once in the data but walkable both ways; show the resolved graph.
        entry["routes"] = [
            {"to": to, "name": self.locations[to].name, "cost": cost}
            for to, cost in sorted(self.neighbors(loc.id).items())
        ]
        return entry

    def counts(self) -> dict[str, int]:
        """How many entries of each kind the world holds."""
        return {
            "realms": len(self.realms),
            "stages": sum(len(r.stages) for r in self.realms),
            "roots": len(self.roots),
            "locations": len(self.locations),
            "routes": sum(len(n) for n in self.routes.values()) // 2,
            "events": len(self.events),
            "event_outcomes": sum(len(e.outcomes) for e in self.events.values()),
            "items": len(self.items),
            "techniques": len(self.techniques),
            "monsters": len(self.monsters),
            "npcs": len(self.npcs),
            "prompts": len(self.prompts),
            "sects": len(self.sects),
            "shops": len(self.shops),
            "recipes": len(self.recipes),
            "quests": len(self.quests),
        }

    @property
    def econ(self) -> EconomyRules:
        """The economy rules (the loader always sets them)."""
        assert self.economy is not None, "World built without economy.json"
        return self.economy
