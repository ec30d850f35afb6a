"""Player ids and secret tokens. Only the token's hash is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

TOKEN_PREFIX = "pt_"  # the log redactor knows this prefix


@dataclass(frozen=True, slots=True)
class Identity:
    """What a new player gets: a public id, a secret token, the seed for the root roll and
    the hidden fate secret mixed into every action's seed (None: a fresh random one)."""

    player_id: str
    token: str
    seed: int
    fate_secret: str | None = None


def new_identity() -> Identity:
    """Fresh random id, token and creation seed."""
    return Identity(
        player_id=uuid.uuid4().hex,
        token=TOKEN_PREFIX + secrets.token_urlsafe(24),
        seed=secrets.randbits(63),
        fate_secret=new_fate_secret(),
    )


def new_fate_secret() -> str:
    """A fresh fate secret (server-only: never sent to a client)."""
    return secrets.token_hex(16)


def hash_token(token: str) -> str:
    """The stored form of a token (sha256 hex); tokens are random, so no salt is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, token_hash: str) -> bool:
    """Constant-time comparison of a presented token with the stored hash."""
    return hmac.compare_digest(hash_token(token), token_hash)
