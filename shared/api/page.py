"""The player's page at the HTTP edge: versioned asset URLs, caching and security headers.

Both apps serve ``/`` from :func:`index_html` and pass every response through
:func:`page_headers`, so the page, its assets and their headers are the same from Flask and
Quart. Asset URLs carry a hash of the file (``/static/app.js?v=3f9c…``): a blue/green switch
or a deploy can never pair a new page with a stale script, and a versioned asset may be
cached for a year.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from typing import Protocol

from shared.paths import WEBPAGE_DIR

# No inline script anywhere (the pages load /static/*.js), no framing, no plugins. The page's
# one inline <style> (its first-paint shell) is allowed by its hash, nothing else inline is.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'{styles}; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'")
_INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.S)
OTHER_SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
IMMUTABLE = "public, max-age=31536000, immutable"
_ASSET_NAME = re.compile(r"[\w-]+(?:\.[\w-]+)*")  # a plain file name: no folders, no ..
_ASSET_REF = re.compile(r'(?P<attr>(?:src|href)=")/static/(?P<name>[\w.-]+)"')


@cache
def asset_version(name: str) -> str:
    """A short hash of a file under the page's folder (read once per process)."""
    return hashlib.sha256((WEBPAGE_DIR / name).read_bytes()).hexdigest()[:12]


def versioned(html: str) -> str:
    """``html`` with every ``/static/<file>`` reference given its content hash."""
    return _ASSET_REF.sub(
        lambda m: f'{m["attr"]}/static/{m["name"]}?v={asset_version(m["name"])}"', html
    )


@cache
def page_html(name: str) -> str:
    """A page of the folder (``index.html``, ``docs.html``) with versioned asset URLs."""
    return versioned((WEBPAGE_DIR / name).read_text(encoding="utf-8"))


def index_html() -> str:
    """The player's page."""
    return page_html("index.html")


@cache
def content_security_policy() -> str:
    """The CSP of every response: 'self' only, plus the hash of the page's inline shell style."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'"
        for block in _INLINE_STYLE.findall(index_html())
    )
    return _CSP.format(styles=hashes)


class ResponseHeaders(Protocol):
    """Response headers as both frameworks' ``Headers`` take them."""

    def __contains__(self, key: str, /) -> bool: ...

    def __setitem__(self, key: str, value: str) -> None: ...


def page_headers(path: str, version: str | None, headers: ResponseHeaders) -> None:
    """Security headers on every response; caching for the page and its assets.

    A static asset asked for with its current ``v`` is immutable; any other static request
    (old or no version) must revalidate, like the HTML itself.
    """
    if "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = content_security_policy()
    for key, value in OTHER_SECURITY_HEADERS.items():
        if key not in headers:
            headers[key] = value
    if path.startswith("/static/"):
        name = path[len("/static/"):]
        current = (version is not None and _ASSET_NAME.fullmatch(name) is not None
                   and (WEBPAGE_DIR / name).is_file() and version == asset_version(name))
        headers["Cache-Control"] = IMMUTABLE if current else "no-cache"
    elif path in ("/", "/docs"):
        headers["Cache-Control"] = "no-cache"
