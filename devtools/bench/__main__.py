"""``python -m devtools.bench COMMAND [ARGS...]``: run one benchmark (see the package doc)."""

from __future__ import annotations

import importlib
import sys

import devtools.bench as package


def main(argv: list[str] | None = None) -> int:
    """Dispatch to ``devtools.bench.<module>.main`` with the remaining arguments."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in package.COMMANDS:
        print(package.__doc__, file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"devtools.bench.{package.COMMANDS[args[0]]}")
    sys.argv[0] = f"python -m devtools.bench {args[0]}"
    return int(module.main(args[1:]))


if __name__ == "__main__":
    raise SystemExit(main())
