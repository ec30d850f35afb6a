"""Xianxia World Engine: the core that both web apps import.

Sub-packages:
- ``shared.game``: pure rules (no web, HTTP, database or clock imports).
- ``shared.data``: loading and validating the world from ``data/``.
- ``shared.store``: player state store (SQLite or PostgreSQL), sync and async faces.
- ``shared.ai``: the DeepSeek client (sans-I/O core, sync and async faces) and the narrator.
- ``shared.usecases``: each route's work, written once as a generator of effects.
- ``shared.api``: request/response models and the error envelope both apps serve.
"""

__version__ = "0.1.0"
