"""One logging setup for both apps, with secrets scrubbed from every record.

API keys (``sk-...``), bearer tokens and player tokens (``pt_...``) are replaced by
``[REDACTED]`` in the final message of every record that passes through the handler,
whatever logger produced it (ours, httpx's, gunicorn's or hypercorn's).
"""

from __future__ import annotations

import logging
import re
import sys

LOGGER_NAME = "xianxia"

_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+"),
    re.compile(r"pt_[A-Za-z0-9_\-]{8,}"),
]
_extra_secrets: set[str] = set()


def add_secret(value: str | None) -> None:
    """Register a literal value (e.g. the configured API key) to redact everywhere."""
    if value and len(value) >= 4:
        _extra_secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with every known secret shape replaced."""
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, "[REDACTED]")
    for pat in _PATTERNS:
        text = pat.sub(lambda m: (m.group(1) if m.groups() else "") + "[REDACTED]", text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then scrubs secrets from the whole line (message and traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


_SERVER_LOGGERS = ("hypercorn.error", "hypercorn.access", "gunicorn.error", "gunicorn.access")


def _not_printed_by_a_server(record: logging.LogRecord) -> bool:
    """False for a server's record that its own handler prints (hypercorn attaches its
    handlers after the app is built, so this is decided per record, not at set-up)."""
    return not (record.name in _SERVER_LOGGERS and logging.getLogger(record.name).handlers)


def get_logger(name: str = "") -> logging.Logger:
    """The project's logger, or a child of it (``get_logger("llm")`` → ``xianxia.llm``)."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def configure_logging(level: str = "INFO", app_name: str = "core") -> None:
    """Install one redacting stderr handler on the root logger. Safe to call twice."""
    root = logging.getLogger()
    fmt = RedactingFormatter(
        f"%(asctime)s %(levelname)s [{app_name}] %(name)s: %(message)s"
    )
    for handler in root.handlers:
        if getattr(handler, "_xianxia", False):
            handler.setFormatter(fmt)
            break
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler._xianxia = True  # type: ignore[attr-defined]
        handler.setFormatter(fmt)
        handler.addFilter(_not_printed_by_a_server)
        root.addHandler(handler)
    # Handlers the servers already attached are scrubbed too.
    server_loggers = [logging.getLogger(n) for n in _SERVER_LOGGERS]
    for other in list(root.handlers) + [h for lg in server_loggers for h in lg.handlers]:
        if not isinstance(other.formatter, RedactingFormatter):
            base = other.formatter or logging.Formatter()
            other.setFormatter(_wrap(base))
    root.setLevel(level.upper())
    get_logger().setLevel(level.upper())
    # httpx logs every request line at INFO; that is noise at our volume.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _wrap(base: logging.Formatter) -> logging.Formatter:
    class _Wrapped(RedactingFormatter):
        def format(self, record: logging.LogRecord) -> str:
            return redact(base.format(record))

    return _Wrapped()
