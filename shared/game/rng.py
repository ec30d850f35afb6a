"""Deterministic randomness: one ``random.Random`` per action, seeded from the request.

Never the ``random`` module's global state, so the same (world, state, action, seed) gives the
same outcome in Flask, in Quart, in a Celery worker and in tests.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from shared.game.state import PlayerState

T = TypeVar("T")


def action_seed(player_id: str, turn: int) -> int:
    """The seed of a player's ``turn``-th action: the first 8 bytes of sha256("id:turn")."""
    digest = hashlib.sha256(f"{player_id}:{turn}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def fate_seed(secret: str, player_id: str, fate_counter: int) -> int:
    """The hidden seed of a player's ``fate_counter``-th fate draw.

    HMAC-SHA256 keyed by the player's server secret, so nobody without the secret can compute
    it from the public id and counter (a client replaying the open rules foresees nothing).
    """
    digest = hmac.new(secret.encode(), f"{player_id}:{fate_counter}".encode(),
                      hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def next_seed(player_id: str, state: PlayerState) -> int:
    """The seed of the player's next action: hidden fate when the state has a secret, the old
    public :func:`action_seed` for saves made before secrets existed."""
    if state.fate_secret:
        return fate_seed(state.fate_secret, player_id, state.fate_counter)
    return action_seed(player_id, state.turn)


def make_rng(seed: int) -> random.Random:
    """A private generator for one action."""
    return random.Random(seed)


def weighted_choice(rng: random.Random, options: Sequence[T], weight: Callable[[T], float]) -> T:
    """One of ``options`` drawn by weight (the data guarantees weights > 0)."""
    if not options:
        raise ValueError("weighted_choice needs at least one option")
    return rng.choices(list(options), weights=[weight(o) for o in options], k=1)[0]


def jitter(rng: random.Random, value: float, variance: float) -> float:
    """``value`` scaled by a uniform factor in [1 - variance, 1 + variance]."""
    return value * rng.uniform(1.0 - variance, 1.0 + variance)
