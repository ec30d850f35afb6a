"""Developer tools: benchmarks, load generators, process management and the fake DeepSeek server.

Importable by the tests and runnable as ``python -m devtools.<tool>``; nothing here is imported
by the apps or by ``shared/``.
"""
