"""The effects a use case can ask its driver to perform, each typed and bound to its server.

A use case is a generator: it hands an effect to its driver and gets the result back (or has
the exception thrown into it). It never does I/O itself, so the same code runs under Flask
(sync faces) and Quart (async faces), as httpx's auth flows leave I/O to their caller.

The pattern (read this before adding an effect)
------------------------------------------------
An effect is a frozen dataclass that subclasses the base of the resource serving it
(:class:`StoreEffect`, :class:`NarratorEffect`, :class:`TaskEffect`, :class:`StreamEffect`,
:class:`LimitsEffect`), parametrised by its result type, and implements ``call(face)``: one
call to the method that serves it. Sync and async faces share method names
(``SyncStore.get_player`` and the coroutine ``AsyncStore.get_player``), so ``call`` is written
once and returns the value on a sync face and an awaitable on an async one; mypy checks it
against both faces::

    @dataclass(frozen=True, slots=True)
    class LoadPlayer(StoreEffect["PlayerRow | None"]):
        player_id: str

        def call(self, store: Store) -> MaybeAwaitable[PlayerRow | None]:
            return store.get_player(self.player_id)

A use case asks for it with ``yield from``, and the result is typed::

    row = yield from fx.LoadPlayer(player_id)      # row: PlayerRow | None

Nothing else changes for a new effect: the handlers (``handlers.py``) pick the face by the
base class's ``resource`` and call ``effect.call(face)``; there is no routing table. A new
*resource* is one new :class:`Resource` member, one base class here and one entry in each
handler's constructor (``LimitsEffect`` and ``shared.limits.effects`` are an example). A use
case that needs several steps composes smaller ones with ``yield from`` (see
``shared.usecases.actions.tell_entry``, which takes its narration step as an argument).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeAlias, TypeVar, cast

from shared.store import Decide, NewLogEntry

if TYPE_CHECKING:
    from shared.ai.narrator import AsyncNarrator, Narration, Narrator
    from shared.ai.streams import AsyncStream, Stream
    from shared.game import NarrationRequest
    from shared.store import AsyncStore, CommitResult, LogEntry, PlayerRow, SyncStore
    from shared.usecases.deltas import AsyncDeltaReader, DeltaReader

R = TypeVar("R")

MaybeAwaitable: TypeAlias = R | Awaitable[R]
"""What ``call`` returns: the value on a sync face, an awaitable of it on an async face."""

TaskStatus: TypeAlias = dict[str, Any]
"""``{"task_id", "state", "result"?, "error"?}`` (see ``shared.tasks.results``)."""


class SyncTasks(Protocol):
    """What the use cases need of the task queue, blocking (``shared.tasks.TaskQueue``).

    A protocol, not the class: ``shared.tasks`` runs use cases in the worker, so naming its
    classes here would make the two packages import each other.
    """

    def submit_narration(self, player_id: str, seq: int, request: dict[str, Any],
                         user_id: str | None = None) -> str: ...
    def submit_complete(self, prompt: str, user_id: str | None = None) -> str: ...
    def status(self, task_id: str) -> TaskStatus | None: ...
    def await_result(self, task_id: str, timeout: float) -> TaskStatus: ...
    def ping(self) -> bool: ...


class AsyncTasks(Protocol):
    """:class:`SyncTasks` as coroutines (``shared.tasks.AsyncTaskQueue``)."""

    async def submit_narration(self, player_id: str, seq: int, request: dict[str, Any],
                               user_id: str | None = None) -> str: ...
    async def submit_complete(self, prompt: str, user_id: str | None = None) -> str: ...
    async def status(self, task_id: str) -> TaskStatus | None: ...
    async def await_result(self, task_id: str, timeout: float) -> TaskStatus: ...
    async def ping(self) -> bool: ...


# The faces each resource has; ``call`` must type-check against both.
Store: TypeAlias = "SyncStore | AsyncStore"
NarratorFace: TypeAlias = "Narrator | AsyncNarrator"
Tasks: TypeAlias = SyncTasks | AsyncTasks
Deltas: TypeAlias = "DeltaReader | AsyncDeltaReader"
NarrationStream: TypeAlias = "Stream[Narration] | AsyncStream[Narration]"


class Resource(enum.Enum):
    """The resources a handler holds, one face of each."""

    STORE = "store"
    NARRATOR = "narrator"
    TASKS = "tasks"
    DELTAS = "deltas"
    LIMITS = "limits"  # rate and budget counters (shared.limits)


class Effect(Generic[R]):
    """Base of every effect: ``yield from`` it in a use case to get its ``R``."""

    __slots__ = ()
    resource: ClassVar[Resource]

    def call(self, face: Any) -> MaybeAwaitable[R]:
        """Ask ``face`` (the resource's sync or async face) for the result."""
        raise NotImplementedError

    def __iter__(self) -> Generator[Effect[Any], Any, R]:
        # The driver sends back what ``call`` produced (awaited on an async face).
        return cast(R, (yield self))


class StoreEffect(Effect[R]):
    """Served by the store: ``SyncStore`` or ``AsyncStore``."""

    __slots__ = ()
    resource = Resource.STORE


class NarratorEffect(Effect[R]):
    """Served by the narrator: ``Narrator`` or ``AsyncNarrator``."""

    __slots__ = ()
    resource = Resource.NARRATOR


class TaskEffect(Effect[R]):
    """Served by the Celery task queue (``LLM_BACKEND=celery``): ``TaskQueue`` or
    ``AsyncTaskQueue``; a handler without one answers 503."""

    __slots__ = ()
    resource = Resource.TASKS


class StreamEffect(Effect[R]):
    """Served by the reader of open narration streams: ``DeltaReader`` or its async face."""

    __slots__ = ()
    resource = Resource.DELTAS


class LimitsEffect(Effect[R]):
    """Served by the limit counters (``shared.limits.counters``): store or Redis, either face."""

    __slots__ = ()
    resource = Resource.LIMITS


@dataclass(frozen=True, slots=True)
class Emit:
    """Not an effect: a chunk of the response body for a streaming driver to send.

    A streaming use case yields it plainly (``yield fx.Emit(data)``) and gets None back.
    """

    data: bytes


Step: TypeAlias = Effect[Any] | Emit
"""What a use case yields."""

UseCase: TypeAlias = Generator[Step, Any, R]
"""A use case: yields steps, returns ``R`` (usually a ``Reply``)."""


# -- store ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadPlayer(StoreEffect["PlayerRow | None"]):
    """The player, or None."""

    player_id: str

    def call(self, store: Store) -> MaybeAwaitable[PlayerRow | None]:
        """``store.get_player``."""
        return store.get_player(self.player_id)


@dataclass(frozen=True, slots=True)
class CreatePlayer(StoreEffect["PlayerRow"]):
    """Insert a player and its creation entry; raises ``PlayerExists``."""

    player_id: str
    token_hash: str
    state: dict[str, Any]
    entry: NewLogEntry

    def call(self, store: Store) -> MaybeAwaitable[PlayerRow]:
        """``store.create_player``."""
        return store.create_player(self.player_id, self.token_hash, self.state, self.entry)


@dataclass(frozen=True, slots=True)
class TransactPlayer(StoreEffect["CommitResult"]):
    """One action in one transaction serialised with the player's other writers.

    The store locks the player, counts its actions in the last ``recent_seconds`` (0: not
    counted), finds the entry under ``idempotency_key``, and calls ``decide(row, recent,
    prior)`` (pure and sync: auth, limits, rules) while the lock is held; it writes the
    ``Commit`` it returns, or answers the ``Replay``. See ``shared.store.records.Decide``.
    """

    player_id: str
    decide: Decide
    recent_seconds: float = 0
    idempotency_key: str | None = None

    def call(self, store: Store) -> MaybeAwaitable[CommitResult]:
        """``store.transact_player``."""
        return store.transact_player(self.player_id, self.decide,
                                     recent_seconds=self.recent_seconds,
                                     idempotency_key=self.idempotency_key)


@dataclass(frozen=True, slots=True)
class SaveNarration(StoreEffect[None]):
    """Attach the prose to the log entry ``seq``."""

    player_id: str
    seq: int
    text: str
    degraded: bool

    def call(self, store: Store) -> MaybeAwaitable[None]:
        """``store.set_narration``."""
        return store.set_narration(self.player_id, self.seq, self.text, self.degraded)


@dataclass(frozen=True, slots=True)
class FillNarration(StoreEffect[bool]):
    """Attach the prose to entry ``seq`` only if it has none; True when it wrote."""

    player_id: str
    seq: int
    text: str
    degraded: bool

    def call(self, store: Store) -> MaybeAwaitable[bool]:
        """``store.set_narration_if_missing``."""
        return store.set_narration_if_missing(self.player_id, self.seq, self.text,
                                              self.degraded)


@dataclass(frozen=True, slots=True)
class ListLog(StoreEffect["list[LogEntry]"]):
    """Up to ``limit`` log entries, newest first, before ``before_seq``."""

    player_id: str
    limit: int
    before_seq: int | None

    def call(self, store: Store) -> MaybeAwaitable[list[LogEntry]]:
        """``store.list_log``."""
        return store.list_log(self.player_id, self.limit, self.before_seq)


@dataclass(frozen=True, slots=True)
class CheckReady(StoreEffect[None]):
    """Raises when the store does not answer."""

    def call(self, store: Store) -> MaybeAwaitable[None]:
        """``store.ping``."""
        return store.ping()


# -- narrator ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Narrate(NarratorEffect["Narration"]):
    """Prose for a narration request (never fails: the narrator degrades to offline text).

    ``offline_reason`` set: no LLM call, the offline text degraded with that reason.
    """

    request: NarrationRequest
    user_id: str | None = None
    offline_reason: str | None = None

    def call(self, narrator: NarratorFace) -> MaybeAwaitable[Narration]:
        """``narrator.narrate``."""
        return narrator.narrate(self.request, self.user_id, offline_reason=self.offline_reason)


@dataclass(frozen=True, slots=True)
class CompletePrompt(NarratorEffect["Narration"]):
    """The answer to a raw prompt (``/api/llm``)."""

    prompt: str
    user_id: str | None = None
    offline_reason: str | None = None

    def call(self, narrator: NarratorFace) -> MaybeAwaitable[Narration]:
        """``narrator.complete``."""
        return narrator.complete(self.prompt, self.user_id, offline_reason=self.offline_reason)


@dataclass(frozen=True, slots=True)
class OpenNarrationStream(NarratorEffect["NarrationStream"]):
    """An open narration stream: read it with :class:`NextDelta`, then take ``.result``."""

    request: NarrationRequest
    user_id: str | None = None
    offline_reason: str | None = None

    def call(self, narrator: NarratorFace) -> MaybeAwaitable[NarrationStream]:
        """``narrator.stream`` (not a coroutine on either face: it opens lazily)."""
        return narrator.stream(self.request, self.user_id, offline_reason=self.offline_reason)


# -- narration streams ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NextDelta(StreamEffect["str | None"]):
    """The next text delta of ``stream``, or None when it is exhausted."""

    stream: NarrationStream

    def call(self, reader: Deltas) -> MaybeAwaitable[str | None]:
        """``reader.next_delta``."""
        return reader.next_delta(self.stream)


# -- task queue -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueNarration(TaskEffect[str]):
    """Hand the narration of entry ``seq`` to the Celery worker; the task id."""

    player_id: str
    seq: int
    request: dict[str, Any]

    def call(self, tasks: Tasks) -> MaybeAwaitable[str]:
        """``tasks.submit_narration``."""
        return tasks.submit_narration(self.player_id, self.seq, self.request,
                                      user_id=self.player_id)


@dataclass(frozen=True, slots=True)
class SubmitPromptTask(TaskEffect[str]):
    """A raw prompt for the Celery worker; the task id."""

    prompt: str
    user_id: str | None = None

    def call(self, tasks: Tasks) -> MaybeAwaitable[str]:
        """``tasks.submit_complete``."""
        return tasks.submit_complete(self.prompt, self.user_id)


@dataclass(frozen=True, slots=True)
class GetTask(TaskEffect["TaskStatus | None"]):
    """A task's state; None for ids this service never issued."""

    task_id: str

    def call(self, tasks: Tasks) -> MaybeAwaitable[TaskStatus | None]:
        """``tasks.status``."""
        return tasks.status(self.task_id)


@dataclass(frozen=True, slots=True)
class AwaitTask(TaskEffect["TaskStatus"]):
    """Wait (bounded) for a task to finish; its final state."""

    task_id: str
    timeout: float

    def call(self, tasks: Tasks) -> MaybeAwaitable[TaskStatus]:
        """``tasks.await_result``."""
        return tasks.await_result(self.task_id, self.timeout)


@dataclass(frozen=True, slots=True)
class PingTasks(TaskEffect[bool]):
    """True when the task queue's Redis answers."""

    def call(self, tasks: Tasks) -> MaybeAwaitable[bool]:
        """``tasks.ping``."""
        return tasks.ping()


AnyEffect: TypeAlias = (
    "LoadPlayer | CreatePlayer | TransactPlayer | SaveNarration | FillNarration | ListLog"
    " | CheckReady | Narrate"
    " | CompletePrompt | OpenNarrationStream"
    " | NextDelta | QueueNarration | SubmitPromptTask | GetTask | AwaitTask | PingTasks"
)
"""Every concrete effect (for exhaustive matches, e.g. in a scripted test handler)."""
