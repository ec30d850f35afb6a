"""The hall of ended runs and the legacy an heir inherits, as use cases (issue 9).

An action that ends a story records it (:func:`record_if_ended`, right after the serialised
commit, and again on a replay: the store keeps the first record, so it is entered once).
``GET /api/hall`` lists the records (:func:`list_hall`); a new cultivator created with
``heir_of`` inherits a predecessor's legacy once: :func:`find_inheritance` checks it and
reads what it holds, and the store claims it in the transaction that inserts the heir
(:class:`CreateHeir`), so a creation that fails never spends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.errors import ActionRefused, AppError, NotFound
from shared.game import PlayerState
from shared.game.legacy import Legacy, hall_entry, legacy_from_record, legacy_of
from shared.game.lifespan import END_CAUSES
from shared.store import HallEntry, HallKind, HallRecord, NewLogEntry, PlayerRow
from shared.usecases import effects as fx
from shared.usecases import players
from shared.usecases.context import GameContext
from shared.usecases.effects import MaybeAwaitable, Store, StoreEffect, UseCase
from shared.usecases.identity import Identity, hash_token, token_matches
from shared.usecases.replies import Reply

DEFAULT_HALL_PAGE = 20


class LegacyClaimed(AppError):
    """409 ``legacy_claimed``: another heir already inherited this run (final, no retry)."""

    status = 409
    code = "legacy_claimed"


# -- store effects ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordLegacy(StoreEffect[HallEntry]):
    """Enter an ended run in the hall (once per player: a second call returns the first)."""

    player_id: str
    name: str
    kind: HallKind
    record: dict[str, Any]

    def call(self, store: Store) -> MaybeAwaitable[HallEntry]:
        """``store.record_legacy``."""
        return store.record_legacy(self.player_id, self.name, self.kind, self.record)


@dataclass(frozen=True, slots=True)
class GetLegacy(StoreEffect["HallEntry | None"]):
    """The hall entry of a player's ended run, or None."""

    player_id: str

    def call(self, store: Store) -> MaybeAwaitable[HallEntry | None]:
        """``store.get_legacy``."""
        return store.get_legacy(self.player_id)


@dataclass(frozen=True, slots=True)
class ListHall(StoreEffect["list[HallEntry]"]):
    """Up to ``limit`` hall entries, newest first, of one ``kind`` (all when None)."""

    limit: int
    kind: HallKind | None = None

    def call(self, store: Store) -> MaybeAwaitable[list[HallEntry]]:
        """``store.list_hall``."""
        return store.list_hall(self.limit, self.kind)


@dataclass(frozen=True, slots=True)
class CreateHeir(StoreEffect["PlayerRow | None"]):
    """Claim ``predecessor_id``'s legacy and insert the heir and its creation entry in one
    transaction: the row, or None (nothing written) when another heir has the legacy."""

    player_id: str
    token_hash: str
    state: dict[str, Any]
    entry: NewLogEntry
    predecessor_id: str

    def call(self, store: Store) -> MaybeAwaitable[PlayerRow | None]:
        """``store.create_heir``."""
        return store.create_heir(self.player_id, self.token_hash, self.state, self.entry,
                                 self.predecessor_id)


# -- use cases --------------------------------------------------------------------------------


def ended_run(ctx: GameContext, player_id: str, state: PlayerState) -> HallRecord | None:
    """What the hall records of ``state`` when its story is over (None while it goes on): the
    action that ends a run commits it with the action (``Commit(hall=...)``)."""
    if not state.ended:
        return None
    name, kind, record = hall_entry(ctx.world, player_id, state)
    return HallRecord(name, kind, record)


def record_if_ended(ctx: GameContext, player_id: str,
                    state: dict[str, Any]) -> UseCase[HallEntry | None]:
    """Record a committed state whose story is over in the hall; None while it goes on.

    The rules refuse every action of an ended cultivator, so the only committed entry with an
    ended state is the action that ended it, and the store keeps a run's first record: its
    replay records it again only if it is missing (a run committed before the action carried
    its hall record), so each run is entered exactly once.
    """
    if not state.get("ended"):
        return None
    final = PlayerState.from_dict(state)
    name, kind, record = hall_entry(ctx.world, player_id, final)
    return (yield from RecordLegacy(player_id, name, kind, record))


def hall_view(entry: HallEntry) -> dict[str, Any]:
    """What the public hall shows of a run: nothing secret (no id, token or legacy)."""
    rec = entry.record
    cause = rec.get("cause")
    return {
        "name": entry.name,
        "kind": entry.kind,
        "realm": str(rec.get("realm", "")),
        "root": str(rec.get("root", "")),
        "cause": cause,
        "cause_text": END_CAUSES.get(str(cause), "道途已尽"),
        "age": int(rec.get("age", 0)),
        "day": int(rec.get("days", 0)),
        "turns": int(rec.get("turns", 0)),
        "kills": int(rec.get("kills", 0)),
        "legacy_from": rec.get("legacy_from"),
        "recorded_at": entry.created_at.isoformat(),
    }


def list_hall(ctx: GameContext, limit: int | None, kind: HallKind | None) -> UseCase[Reply]:
    """``GET /api/hall``: the newest records of one kind (the hall of 飞升者 by default)."""
    shown: HallKind = kind or "ascended"
    entries = yield from ListHall(limit or DEFAULT_HALL_PAGE, shown)
    return Reply({"kind": shown, "entries": [hall_view(e) for e in entries]})


def find_inheritance(ctx: GameContext, predecessor_id: str, token: str,
                     heir_id: str) -> UseCase[Legacy | None]:
    """The legacy ``heir_id`` would inherit from ``predecessor_id`` (proven by its token),
    checked and read but not claimed: the heir's insert claims it (:class:`CreateHeir`).

    404 for an unknown predecessor or a wrong token (alike), 422 ``not_ended`` while its story
    goes on, 409 ``legacy_claimed`` when another heir already has it. A run ended before the
    hall existed is recorded now. None when the run left nothing to inherit.
    """
    row = yield from fx.LoadPlayer(predecessor_id)
    if row is None or not token_matches(token, row.token_hash):
        raise NotFound("找不到这位前辈，或凭证不符。", code="predecessor_not_found")
    final = PlayerState.from_dict(row.state)
    if not final.ended:
        raise ActionRefused(f"{final.name}道途未尽，尚无传承可继。", code="not_ended")
    entry = yield from GetLegacy(predecessor_id)
    if entry is None:
        entry = yield from record_if_ended(ctx, predecessor_id, row.state)
    if entry is not None and entry.heir_id not in (None, heir_id):
        raise legacy_claimed(final.name)
    # The record is written once, when the run ends: what is read here is what is claimed.
    return (legacy_from_record(entry.record) if entry else None) or legacy_of(ctx.world, final)


def store_heir(ctx: GameContext, name: str, ident: Identity, legacy: Legacy | None,
               predecessor_id: str) -> UseCase[tuple[PlayerRow, NewLogEntry]]:
    """:func:`~shared.usecases.players.store_cultivator` for an heir: the insert claims
    ``predecessor_id``'s legacy in the same transaction; 409 ``legacy_claimed`` (nothing
    stored) when another heir took it since :func:`find_inheritance` looked."""
    state, entry = players.creation_entry(ctx, name, ident, legacy)
    row = yield from CreateHeir(ident.player_id, hash_token(ident.token), state, entry,
                                predecessor_id)
    if row is None:
        raise legacy_claimed(legacy.predecessor if legacy else "")
    return row, entry


def legacy_claimed(name: str) -> LegacyClaimed:
    """The 409 for a legacy another heir has (``name``: the predecessor's, "" if unknown)."""
    whose = f"{name}的传承" if name else "这份传承"
    return LegacyClaimed(f"{whose}已有人继承，每份传承只能继承一次。")
