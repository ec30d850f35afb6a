"""The one plan driver, and the thin sync and async ways to call it.

``drive`` executes a plan's steps on a SQLAlchemy ``Connection``. The sync face calls it on a
pooled connection directly; the async face calls the very same function through
``AsyncConnection.run_sync``, where SQLAlchemy's greenlet bridge turns each DBAPI call into an
await on aiosqlite or async psycopg. One greenlet per operation (instead of one per statement,
commit and close) also keeps the async face's CPU per call low.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from .plans import COMMIT, ROLLBACK, Plan

T = TypeVar("T")


def drive(conn: Connection, plan: Plan[T]) -> T:
    """Run ``plan`` on ``conn``: execute each step, send results back, throw DB errors in."""
    try:
        result: Any = None
        error: DBAPIError | None = None
        while True:
            try:
                step = plan.send(result) if error is None else plan.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            result = error = None
            if step is COMMIT:
                conn.commit()
            elif step is ROLLBACK:
                conn.rollback()
            else:
                try:
                    result = conn.execute(step.statement, step.params)
                except DBAPIError as exc:
                    error = exc
    finally:
        plan.close()


def drive_sync(plan: Plan[T], engine: Engine) -> T:
    """Run ``plan`` on a connection from ``engine``'s pool (returned, rolled back if open)."""
    with engine.connect() as conn:
        return drive(conn, plan)


async def drive_async(plan: Plan[T], engine: AsyncEngine) -> T:
    """The same, awaited: ``drive`` runs inside SQLAlchemy's greenlet bridge."""
    async with engine.connect() as conn:
        return await conn.run_sync(drive, plan)
