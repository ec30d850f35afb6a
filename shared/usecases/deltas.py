"""Reading open narration streams, one face each (the resource behind ``fx.NextDelta``).

A narration stream is opened by the narrator (``fx.OpenNarrationStream``) and read delta by
delta; a blocking stream is read with ``next``, an async one awaited with ``anext``, so the
two readers share one method name like every other pair of faces.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, cast


class DeltaReader:
    """Reads open narration streams for the blocking face."""

    def next_delta(self, stream: Any) -> str | None:
        """The next delta of a (sync) narration stream, or None when it is exhausted."""
        return next(cast(Iterator[str], stream), None)


class AsyncDeltaReader:
    """Reads open narration streams for the awaiting face."""

    async def next_delta(self, stream: Any) -> str | None:
        """The next delta of an async narration stream, or None when it is exhausted."""
        return await anext(cast(AsyncIterator[str], stream), None)
