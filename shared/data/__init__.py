"""The world: JSON under ``data/``, validated at start-up into a frozen :class:`World`.

``load_world(data_dir)`` returns the World or raises :class:`DataError` listing every problem
(file, entry, field, message). ``python -m shared.data check [DATA_DIR]`` prints them.
"""

from shared.data.errors import DataError, DataProblem
from shared.data.loader import find_problems, load_world
from shared.data.prompt_fields import NARRATION_KINDS, RAW_KIND
from shared.data.world import World

__all__ = [
    "NARRATION_KINDS",
    "RAW_KIND",
    "DataError",
    "DataProblem",
    "World",
    "find_problems",
    "load_world",
]
