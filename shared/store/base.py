"""What the sync and async faces share: how an operation meets a connection, error wrapping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from .engines import Backend, StoreTarget, read_options, write_options
from .errors import StoreError

P = ParamSpec("P")
T = TypeVar("T")

# An operation: a plain function of a connection (see shared.store.operations).
Operation = Callable[Concatenate[Connection, P], T]

# How an operation touches the database, which decides its engine options and whether it
# takes this process's SQLite write queue:
#   "read"         SELECTs, no transaction (each its own snapshot on SQLite), no queue;
#   "write"        one data-changing statement, atomic on its own (autocommit), queued;
#   "transaction"  several statements in one transaction (BEGIN IMMEDIATE on SQLite), queued.
Access = Literal["read", "write", "transaction"]

# Keep a failing statement's parameters (player state, log JSON) out of error messages.
_MESSAGE_LIMIT = 300


def engines_by_access(engine: Engine, backend: Backend) -> dict[Access, Engine]:
    """``engine`` with the execution options of each kind of access (one shared pool)."""
    single = engine.execution_options(**read_options(backend))
    return {
        "read": single,
        "write": single,
        "transaction": engine.execution_options(**write_options(backend)),
    }


def run_on(engine: Engine, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``operation`` on a pooled connection of ``engine`` (rolled back if left open)."""
    with engine.connect() as conn:
        return operation(conn, *args, **kwargs)


class BaseStore:
    """State common to :class:`SyncStore` and :class:`AsyncStore` (no I/O here)."""

    def __init__(self, target: StoreTarget) -> None:
        self.target = target

    @property
    def backend(self) -> Backend:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.target.backend

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target.display()!r})"

    def _store_error(self, exc: SQLAlchemyError) -> StoreError:
        cause: Any = getattr(exc, "orig", None) or exc
        detail = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        return StoreError(
            f"database {self.target.display()} failed: "
            f"{type(cause).__name__}: {detail[:_MESSAGE_LIMIT]}"
        )
