"""Developer tools: benchmarks, the load generator, process management and the fake DeepSeek.

Importable by the tests and runnable as ``python -m devtools.<tool>`` from the repo root;
nothing here is imported by the apps or by ``shared/``.

- :mod:`devtools.procs`: the one process manager (apps, Celery workers, the fake; by PID)
- :mod:`devtools.load`: the one closed-loop load generator (``llm`` and ``actions``)
- :mod:`devtools.fake_deepseek`: the fake DeepSeek server and its CLI
- :mod:`devtools.costs`: CPU and memory of process trees
- :mod:`devtools.bench`: the benchmarks (``python -m devtools.bench COMMAND``)
- :mod:`devtools.api_docs`: writes docs/api.md
"""
