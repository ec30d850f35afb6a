"""The offline narrator's composer: prose assembled from slot fragments chosen by the facts.

A narration kind in ``prompts.json`` may carry ``parts``: an ordered list of slots, each a list
of fragments. A fragment is either plain text or ``{"text": ..., "when": {...}}``. For every
slot the composer keeps the fragments that fit the decided facts and picks one, so the prose
never contradicts the outcome:

- a fragment whose placeholder has no telling value (missing, empty, ``无``, or a zero amount)
  is never used, so "受伤0" or "所得：无" cannot reach a player;
- ``when`` names conditions derived from the facts (see :data:`CONDITIONS`): where the player
  is (``place``), how far they have come (``tier``), whether they are hurt or at full health,
  ready for the next breakthrough, and so on.

The choice is deterministic (a hash of the kind, the player's name, the slot and the turn), and
the first slot rotates with the turn, so one player never reads the same sentence shape twice
in a row. Pure: no clock, no random module state.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shared.data.models import Fragment

# Facts that describe the player's standing rather than an amount that changed: a zero is
# still worth saying ("气血0/120" after a defeat).
STANDING_FIELDS: frozenset[str] = frozenset(
    {"qi", "qi_required", "hp", "max_hp", "spirit_stones", "turn", "day", "age", "danger",
     "chance_percent"}
)
_EMPTY_TEXT = frozenset({"", "无", "（无）", "none", "None"})

PLACE_KINDS: tuple[str, ...] = ("village", "town", "wild", "sect", "secret")
TIERS: tuple[str, ...] = ("low", "mid", "high")
# Realm index (0 = 练气) at which a tier starts.
TIER_STARTS: Mapping[str, int] = {"low": 0, "mid": 2, "high": 5}


def _num(facts: Mapping[str, Any], key: str) -> float:
    value = facts.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def _truthy(facts: Mapping[str, Any], key: str) -> bool:
    value = facts.get(key)
    if isinstance(value, str):
        return value not in _EMPTY_TEXT and value not in ("否", "false")
    return bool(value)


# Each condition maps the facts (plus the derived ``place`` and ``tier``) to a value that a
# fragment's ``when`` compares with: equal to a scalar, or one of a list.
CONDITIONS: Mapping[str, Callable[[Mapping[str, Any]], Any]] = {
    "place": lambda f: f.get("_place", "wild"),
    "tier": lambda f: f.get("_tier", "low"),
    "hp_full": lambda f: _num(f, "hp") >= _num(f, "max_hp") > 0,
    "hp_low": lambda f: _num(f, "max_hp") > 0 and _num(f, "hp") * 4 <= _num(f, "max_hp"),
    "hurt": lambda f: _num(f, "damage_taken") > 0 or _num(f, "hp_lost") > 0,
    "qi_ready": lambda f: _num(f, "qi") >= _num(f, "qi_required") > 0,
    "major": lambda f: _truthy(f, "major"),
    "has_loot": lambda f: _truthy(f, "loot"),
    "has_gift": lambda f: _truthy(f, "gift"),
    "has_pill": lambda f: _truthy(f, "pill"),
    "first": lambda f: _truthy(f, "first_time"),
    "spoke": lambda f: _truthy(f, "_player_text"),
    "gained": lambda f: _num(f, "qi_gain") > 0 or _num(f, "hp_gain") > 0,
    "has_rewards": lambda f: _truthy(f, "rewards"),
    "perilous": lambda f: _num(f, "danger") >= 5,
    # talk (issue 10): the favour level's name, a returning visitor, the last topic raised
    "favour": lambda f: f.get("favour_level", ""),
    "returning": lambda f: _truthy(f, "_returning"),
    "topic": lambda f: f.get("_topic", ""),
}


def placeholders(text: str) -> list[str]:
    """The ``{name}`` placeholders of a template (raises ValueError on a broken one)."""
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def telling(key: str, value: Any) -> bool:
    """Whether ``value`` says something in prose: not missing, empty, 无, or a zero amount."""
    if value is None:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return value != 0 or key in STANDING_FIELDS
    if isinstance(value, str):
        return value.strip() not in _EMPTY_TEXT
    if isinstance(value, list | tuple | dict):
        return len(value) > 0
    return True


def fits(when: Mapping[Any, Any], facts: Mapping[str, Any]) -> bool:
    """Whether every condition in ``when`` holds for ``facts``."""
    for name, wanted in when.items():
        got = CONDITIONS[name](facts)
        if isinstance(wanted, list | tuple):
            if got not in wanted:
                return False
        elif got != wanted:
            return False
    return True


def _usable(fragment: Fragment, facts: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    if not all(telling(k, values.get(k)) for k in placeholders(fragment.text)):
        return False
    return fits(fragment.when, facts)


def _hash(*keys: object) -> int:
    digest = hashlib.sha256("\x1f".join(str(k) for k in keys).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def compose(
    kind: str,
    slots: Sequence[Sequence[Fragment]],
    facts: Mapping[str, Any],
    values: Mapping[str, Any],
    render: Callable[[str, Mapping[str, Any]], str],
) -> str | None:
    """Prose from ``slots`` for these facts, or None when the first slot has nothing that fits.

    ``facts`` carry the derived ``_place``, ``_tier`` and ``_player_text``; ``values`` are the
    template variables (display forms) that ``render`` fills in.
    """
    who = facts.get("name", "")
    turn = facts.get("turn")
    pieces: list[str] = []
    for index, slot in enumerate(slots):
        usable = [frag for frag in slot if _usable(frag, facts, values)]
        if not usable:
            if index == 0:
                return None
            continue  # later slots are optional colour
        if index == 0 and isinstance(turn, int):
            # Rotate with the turn: consecutive narrations of one kind never share slot 0.
            pick = (_hash(kind, who, "rotate") + turn) % len(usable)
        else:
            pick = _hash(kind, who, index, turn, facts.get("summary", "")) % len(usable)
        pieces.append(render(usable[pick].text, values))
    return "".join(pieces)


def tier_of(realm_index: int) -> str:
    """``low`` / ``mid`` / ``high`` for a realm's 0-based index."""
    tier = "low"
    for name in TIERS:
        if realm_index >= TIER_STARTS[name]:
            tier = name
    return tier
