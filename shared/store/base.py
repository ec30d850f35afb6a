"""What the sync and async faces share: the target, the statements and error wrapping."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from .engines import Backend, StoreTarget
from .errors import StoreError
from .queries import Queries, queries_for

# How a plan touches the database, which decides its engine and whether it takes the
# in-process SQLite write lock:
#   "read"         single SELECTs, no transaction, no lock;
#   "write"        one data-changing statement, atomic on its own (autocommit), lock;
#   "transaction"  several statements in one transaction (BEGIN IMMEDIATE on SQLite), lock.
Access = Literal["read", "write", "transaction"]

# Keep a failing statement's parameters (player state, log JSON) out of error messages.
_MESSAGE_LIMIT = 300


class BaseStore:
    """State common to :class:`SyncStore` and :class:`AsyncStore` (no I/O here)."""

    def __init__(self, target: StoreTarget, dialect_name: str) -> None:
        self.target = target
        self._q: Queries = queries_for(dialect_name)

    @property
    def backend(self) -> Backend:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.target.backend

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target.display()!r})"

    def _store_error(self, exc: SQLAlchemyError) -> StoreError:
        cause = getattr(exc, "orig", None) or exc
        detail = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        return StoreError(
            f"database {self.target.display()} failed: "
            f"{type(cause).__name__}: {detail[:_MESSAGE_LIMIT]}"
        )
