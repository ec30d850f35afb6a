"""Each route's work, written once as a generator of effects.

Apps build a :class:`GameContext`, pick a handler (:class:`SyncEffects` over the sync store and
narrator, :class:`AsyncEffects` over the async ones) and run a use case with
:func:`drive_sync` or :func:`drive_async`. The result is a :class:`Reply`.
"""

from shared.usecases.context import GameContext
from shared.usecases.drivers import drive_async, drive_sync
from shared.usecases.handlers import AsyncEffects, SyncEffects
from shared.usecases.replies import Reply

__all__ = ["AsyncEffects", "GameContext", "Reply", "SyncEffects", "drive_async", "drive_sync"]
