"""Problems found in ``data/``: each names the file, the entry and the field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DataProblem:
    """One thing wrong with the data. ``entry`` is an id (or ``#index``), ``-`` for the file."""

    file: str
    entry: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.entry}: {self.field}: {self.message}"


class DataError(Exception):
    """The world could not be loaded; ``problems`` lists every reason at once."""

    def __init__(self, problems: Iterable[DataProblem]) -> None:
        self.problems: list[DataProblem] = list(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the world data:"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])
