"""Use-case pieces that enforce the limits, as generators of effects (both apps, both faces).

Token budgets reserve before a call and settle after it: ``reserve_tokens`` adds
``LLM_CALL_RESERVE_TOKENS`` to the player's daily counter and the deployment's minute and day
counters in one atomic step; if any passes its budget the reservation is given back and the
narrator is told to stay offline (``offline_reason``), else the call is made and
``settle_tokens`` adds what it really used minus what was reserved. Concurrent calls therefore
never spend past a budget on a stale read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.config import Settings
from shared.errors import RateLimited, UnknownPlayer
from shared.limits.counters import Tally
from shared.limits.effects import AddCounts, PlayerForToken, ReadCounts
from shared.usecases import effects as fx
from shared.usecases.context import GameContext
from shared.usecases.effects import UseCase
from shared.usecases.identity import hash_token
from shared.usecases.players import require_token

MINUTE = 60
DAY = 86_400

# Why the narrator stayed offline (Narration.reason, the API's ``reason``).
PLAYER_BUDGET = "player_budget"
GLOBAL_MINUTE_BUDGET = "global_minute_budget"
GLOBAL_DAILY_BUDGET = "global_daily_budget"

GLOBAL_MINUTE_KEY = "llm.tokens.global.minute"
GLOBAL_DAY_KEY = "llm.tokens.global.day"


def player_day_key(player_id: str) -> str:
    """The counter of one player's tokens today."""
    return f"llm.tokens.player.{player_id}"


@dataclass(frozen=True, slots=True)
class Grant:
    """The outcome of a reservation: ``offline_reason`` set when a budget is spent, else the
    reserved tallies (window pinned) that ``settle_tokens`` corrects."""

    offline_reason: str | None = None
    held: tuple[Tally, ...] = ()
    reserved: int = 0


def _budgets(settings: Settings, player_id: str | None,
             amount: int) -> list[tuple[Tally, int, str]]:
    out: list[tuple[Tally, int, str]] = []
    if player_id and settings.llm_player_daily_tokens > 0:
        out.append((Tally(player_day_key(player_id), DAY, amount),
                    settings.llm_player_daily_tokens, PLAYER_BUDGET))
    if settings.llm_global_minute_tokens > 0:
        out.append((Tally(GLOBAL_MINUTE_KEY, MINUTE, amount), settings.llm_global_minute_tokens,
                    GLOBAL_MINUTE_BUDGET))
    if settings.llm_global_daily_tokens > 0:
        out.append((Tally(GLOBAL_DAY_KEY, DAY, amount), settings.llm_global_daily_tokens,
                    GLOBAL_DAILY_BUDGET))
    return out


def reserve_tokens(ctx: GameContext, player_id: str | None) -> UseCase[Grant]:
    """Reserve one call's tokens against every budget, or say which budget is spent."""
    settings = ctx.settings
    if not settings.llm_enabled:
        return Grant()  # no key: the narrator is offline anyway and nothing is spent
    amount = max(1, settings.llm_call_reserve_tokens)
    budgets = _budgets(settings, player_id, amount)
    if not budgets:
        return Grant()
    counts = yield from AddCounts(tuple(t for t, _, _ in budgets))
    held = tuple(t.at(c.slot, amount) for (t, _, _), c in zip(budgets, counts, strict=True))
    for (_, limit, reason), count in zip(budgets, counts, strict=True):
        if count.value > limit:
            yield from AddCounts(tuple(h.at(h.slot or 0, -amount) for h in held))
            return Grant(offline_reason=reason)
    return Grant(held=held, reserved=amount)


def tokens_used(told: Any) -> int:
    """The tokens a narration cost upstream (0 for offline prose)."""
    return usage_tokens(getattr(told, "usage", None))


def usage_tokens(usage: Any) -> int:
    """Total tokens of an upstream ``usage`` object (0 when there is none)."""
    if not isinstance(usage, Mapping):
        return 0
    total = usage.get("total_tokens")
    if isinstance(total, int):
        return max(0, total)
    parts = (usage.get("prompt_tokens"), usage.get("completion_tokens"))
    return sum(p for p in parts if isinstance(p, int) and p > 0)


def settle_tokens(grant: Grant, used: int) -> UseCase[None]:
    """Replace the reservation by what the call used (a refund when it used less)."""
    delta = used - grant.reserved
    if grant.held and delta:
        yield from AddCounts(tuple(h.at(h.slot or 0, delta) for h in grant.held))


def narrate(ctx: GameContext, request: Any, user_id: str | None) -> UseCase[Any]:
    """``fx.Narrate`` within the budgets: offline (``degraded``, with a reason) when spent."""
    grant = yield from reserve_tokens(ctx, user_id)
    told = yield from fx.Narrate(request, user_id=user_id, offline_reason=grant.offline_reason)
    yield from settle_tokens(grant, tokens_used(told))
    return told


def complete(ctx: GameContext, prompt: str, user_id: str) -> UseCase[Any]:
    """``fx.CompletePrompt`` within the budgets."""
    grant = yield from reserve_tokens(ctx, user_id)
    told = yield from fx.CompletePrompt(prompt, user_id=user_id,
                                        offline_reason=grant.offline_reason)
    yield from settle_tokens(grant, tokens_used(told))
    return told


def take(key: str, limit: int, message: str, window: int = MINUTE) -> UseCase[None]:
    """Count one request on ``key``; 429 with ``Retry-After`` (the window's end) past
    ``limit`` per ``window`` seconds. 0 = no limit."""
    if limit <= 0:
        return
    (count,) = yield from AddCounts((Tally(key, window, 1),))
    if count.value > limit:
        raise RateLimited(message, retry_after=count.resets_in)


def creation_allowed(ctx: GameContext, client: str) -> UseCase[None]:
    """Creations per client address per minute (``CREATE_RATE_PER_MINUTE``)."""
    limit = ctx.settings.create_rate_per_minute
    yield from take(f"create.addr.{client}", limit,
                    f"同一地址每分钟最多创建 {limit} 位修士，请稍后再试。")


def llm_caller(ctx: GameContext, token: str | None) -> UseCase[str]:
    """The player behind the bearer token of an LLM route (401 without one, 404 for a token
    nobody has), counted against that player's LLM call rate (429)."""
    require_token(token)
    assert token is not None
    # The index lookup by the token's sha256 is the check: a row found holds exactly this
    # hash, and timing the lookup tells nothing about a token nobody's hash is near (a
    # preimage would be needed). Loading the whole player again to compare the same hash
    # cost a second read and a state parse per LLM call.
    player_id = yield from PlayerForToken(hash_token(token))
    if player_id is None:
        raise UnknownPlayer()
    limit = ctx.settings.llm_rate_per_minute
    yield from take(f"llm.calls.player.{player_id}", limit,
                    f"每分钟最多调用 {limit} 次，请稍后再试。")
    return player_id


def budget_snapshot(ctx: GameContext) -> UseCase[dict[str, dict[str, int]]]:
    """The deployment's budgets now: ``{"minute"|"day": {"spent", "limit", "left"}}`` (a
    limit of 0 means none)."""
    settings = ctx.settings
    counts = yield from ReadCounts((Tally(GLOBAL_MINUTE_KEY, MINUTE, 0),
                                    Tally(GLOBAL_DAY_KEY, DAY, 0)))
    out: dict[str, dict[str, int]] = {}
    for name, limit, count in (("minute", settings.llm_global_minute_tokens, counts[0]),
                               ("day", settings.llm_global_daily_tokens, counts[1])):
        spent = max(0, count.value)
        out[name] = {"spent": spent, "limit": limit,
                     "left": max(0, limit - spent) if limit > 0 else -1}
    return out


def budget_metrics_text(snapshot: dict[str, dict[str, int]], player_daily: int) -> str:
    """Prometheus text lines of :func:`budget_snapshot` (read from the shared counters at
    scrape time, so every instance shows the deployment's totals)."""
    lines = [
        "# HELP xianxia_llm_budget_spent_tokens LLM tokens spent by the deployment in the "
        "current window (reserved calls included).",
        "# TYPE xianxia_llm_budget_spent_tokens gauge",
    ]
    lines += [f'xianxia_llm_budget_spent_tokens{{window="{w}"}} {v["spent"]}'
              for w, v in snapshot.items()]
    lines += ["# HELP xianxia_llm_budget_limit_tokens The deployment's LLM token budget per "
              "window (0 = none).", "# TYPE xianxia_llm_budget_limit_tokens gauge"]
    lines += [f'xianxia_llm_budget_limit_tokens{{window="{w}"}} {v["limit"]}'
              for w, v in snapshot.items()]
    lines += ["# HELP xianxia_llm_budget_left_tokens LLM tokens left in the current window "
              "(-1 = no budget).", "# TYPE xianxia_llm_budget_left_tokens gauge"]
    lines += [f'xianxia_llm_budget_left_tokens{{window="{w}"}} {v["left"]}'
              for w, v in snapshot.items()]
    lines += ["# HELP xianxia_llm_player_daily_budget_tokens Each player's LLM token budget "
              "per UTC day (0 = none).", "# TYPE xianxia_llm_player_daily_budget_tokens gauge",
              f"xianxia_llm_player_daily_budget_tokens {player_daily}"]
    return "\n".join(lines) + "\n"
