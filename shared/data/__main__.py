"""``python -m shared.data check [DATA_DIR]``: list every data problem (exit 1) or the counts.

The default DATA_DIR is the repository's ``data/``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.config import REPO_ROOT
from shared.data.errors import DataError
from shared.data.loader import load_world


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m shared.data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate a data directory")
    check.add_argument("data_dir", nargs="?", type=Path, default=REPO_ROOT / "data")
    args = parser.parse_args(argv)

    try:
        world = load_world(args.data_dir)
    except DataError as exc:
        for problem in exc.problems:
            print(problem)
        n = len(exc.problems)
        print(f"{n} problem{'s' if n != 1 else ''} in {args.data_dir}", file=sys.stderr)
        return 1
    print(f"{args.data_dir}: OK")
    for kind, count in world.counts().items():
        print(f"{kind:>15}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
