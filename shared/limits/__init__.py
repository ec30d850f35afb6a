"""Rate limits and LLM token budgets that hold across every instance of both apps.

Counters live in the game store (table ``limit_counters``) or in Redis
(``LIMITS_BACKEND=redis``, the default when ``REDIS_URL`` is set). Every change is one
atomic add that returns the new value, so no check-then-act race lets two requests both take
the last unit: ``counters`` holds the two backends with sync and async faces, ``effects`` the
effects use cases yield, ``flows`` the use-case pieces (reserve and settle tokens, refuse
over-rate callers), ``addresses`` the client address behind trusted proxies.
"""

from shared.limits.counters import Count, Tally

__all__ = ["Count", "Tally"]
