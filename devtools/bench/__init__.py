"""The benchmarks: scripts that print numbers, not tests.

    python -m devtools.bench llm-client   DeepSeekClient.chat_async per transport (fake upstream)
    python -m devtools.bench store        async store commits at many concurrent writers
    python -m devtools.bench actions      game actions at 500 in flight, one hypercorn worker
    python -m devtools.bench stacks       every stack side by side -> docs/evaluation.md
    python -m devtools.bench profile      one Quart stack under pyinstrument -> docs/img/
    python -m devtools.bench report       re-render docs/evaluation.md from saved results

Each takes ``--help``; all but ``report`` take ``--quick`` for a bounded smoke run. Each is
also a module of its own (``python -m devtools.bench.store ...``).
"""

from __future__ import annotations

# Command name -> module under devtools.bench (each has ``main(argv) -> int``).
COMMANDS: dict[str, str] = {
    "llm-client": "llm_client",
    "store": "store",
    "actions": "actions",
    "stacks": "stacks",
    "profile": "profile",
    "report": "report",
}
