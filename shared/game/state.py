"""The player's cultivator: an immutable value with a JSON round trip."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from shared.game.frozen import FrozenDict

# Fields a stored state must have; everything else has a default so older saves still load.
_REQUIRED = ("name", "root", "realm", "location", "hp", "max_hp", "attack", "defense")

# Server-only fields: stored with the state, never sent to a client, never in an outcome.
PRIVATE_FIELDS: frozenset[str] = frozenset({"fate_secret"})


@dataclass(frozen=True)
class PlayerState:
    """Everything the rules know about one cultivator. Never mutated: actions return a new one.

    ``stage`` is the 0-based index into the realm's stages; ``qi`` is the qi gathered towards the
    current stage's ``qi_required``. ``turn`` counts actions taken (0 right after creation),
    ``day`` the game days that passed. ``breakthrough_buff`` is the bonus of a breakthrough pill
    already taken, spent by the next attempt.
    """

    name: str
    root: str
    realm: str
    location: str
    hp: int
    max_hp: int
    attack: int
    defense: int
    stage: int = 0
    qi: int = 0
    spirit_stones: int = 0
    inventory: Mapping[str, int] = field(default_factory=FrozenDict)
    techniques: tuple[str, ...] = ()
    equipped: str | None = None
    breakthrough_buff: float = 0.0
    failed_breakthroughs: int = 0
    met_npcs: tuple[str, ...] = ()
    kills: int = 0
    day: int = 0
    turn: int = 0
    # --- gamecore: fate, stakes, choices, endgame (issue 9) ---
    # ``fate_secret`` is the per-player server secret mixed into every action's seed (never
    # public); ``fate_counter`` counts the fate draws used (one per accepted action).
    fate_secret: str = ""
    fate_counter: int = 0
    injury: int = 0  # lasting wounds: each level slows cultivation until rest heals it
    heart_demon: int = 0  # 心魔: each level lowers breakthrough and tribulation odds
    preparation: int = 0  # 闭关准备 points, spent by the next major breakthrough
    pending_choice: str | None = None  # id of the event whose choice must be made now
    ended: bool = False  # the cultivator's story is over (every later action is refused)
    end_cause: str | None = None  # old_age | tribulation | slain | ascended
    legacy_from: str | None = None  # the predecessor this cultivator inherited from
    # --- end gamecore ---
    # --- sects, economy, crafting, favour, quests (gameworld) ---
    sect: str | None = None  # the sect joined, or None
    sect_rank: int = 0  # index into the sect's ranks
    contribution: int = 0  # 贡献 to spend in the sect
    favour: Mapping[str, int] = field(default_factory=FrozenDict)  # npc id -> 好感
    quests: Mapping[str, int] = field(default_factory=FrozenDict)  # quest id -> steps done
    recipes: tuple[str, ...] = ()  # recipes known
    alchemy_exp: int = 0
    forging_exp: int = 0
    claimed: tuple[str, ...] = ()  # one-time things already given or done ("favour:npc:0")
    # --- end gameworld ---

    def __post_init__(self) -> None:
        # Normalise containers so equal states compare equal and nothing mutable leaks out.
        if not isinstance(self.inventory, FrozenDict):
            object.__setattr__(self, "inventory", FrozenDict(self.inventory))
        for name in ("techniques", "met_npcs"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        # --- gameworld containers ---
        for name in ("favour", "quests"):
            value = getattr(self, name)
            if not isinstance(value, FrozenDict):
                object.__setattr__(self, name, FrozenDict(
                    {str(k): int(v) for k, v in dict(value).items()}))
        for name in ("recipes", "claimed"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        # --- end gameworld ---

    @property
    def alive(self) -> bool:
        """False while the cultivator lies at 0 hp (only ``rest`` is allowed then)."""
        return self.hp > 0

    def count(self, item_id: str) -> int:
        """How many of an item the player carries."""
        return self.inventory.get(item_id, 0)

    def with_item(self, item_id: str, delta: int) -> PlayerState:
        """A copy with ``delta`` more (or fewer) of an item; counts never go below 0."""
        inv = dict(self.inventory)
        new = max(0, inv.get(item_id, 0) + delta)
        if new:
            inv[item_id] = new
        else:
            inv.pop(item_id, None)
        return replace(self, inventory=FrozenDict(inv))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (plain dicts and lists) for the database and the API."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = dict(sorted(value.items()))
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def public_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` without the server-only fields (what a client may see)."""
        return {k: v for k, v in self.to_dict().items() if k not in PRIVATE_FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlayerState:
        """Rebuild from :meth:`to_dict` output; missing newer fields take their defaults and
        unknown keys (e.g. an ``id`` added by a view) are ignored."""
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise ValueError(f"player state lacks {', '.join(missing)}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "inventory" in values:
            values["inventory"] = FrozenDict(
                {str(k): int(v) for k, v in dict(values["inventory"]).items()}
            )
        for name in ("techniques", "met_npcs"):
            if name in values:
                values[name] = tuple(values[name])
        if "breakthrough_buff" in values:
            values["breakthrough_buff"] = float(values["breakthrough_buff"])
        return cls(**values)


def diff_fields(before: PlayerState, after: PlayerState) -> list[tuple[str, Any, Any]]:
    """Every changed public field as ``(field, before, after)`` with JSON-safe values.

    The inventory is diffed per item (``inventory.<id>``, 0 when absent) so the numbers can be
    replayed; other containers appear whole as lists.
    """
    out: list[tuple[str, Any, Any]] = []
    for f in fields(PlayerState):
        if f.name in PRIVATE_FIELDS:
            continue  # the fate secret never appears in an outcome
        a, b = getattr(before, f.name), getattr(after, f.name)
        if a == b:
            continue
        if f.name == "inventory":
            for item_id in sorted(set(a) | set(b)):
                if a.get(item_id, 0) != b.get(item_id, 0):
                    out.append((f"inventory.{item_id}", a.get(item_id, 0), b.get(item_id, 0)))
        elif isinstance(a, tuple):
            out.append((f.name, list(a), list(b)))
        else:
            out.append((f.name, a, b))
    return out
