"""Fetch one feed or page over http(s): a timeout, a size cap, a User-Agent, clear errors.

The standard library's ``urllib`` is translated here and nowhere else. Redirects are
followed only to http(s) URLs, so a feed cannot redirect the importer to ``file:`` or
``ftp:``.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import IO
from urllib.parse import urlsplit

from newsletter import __version__
from newsletter.errors import FeedError

MAX_BYTES = 5 * 1024 * 1024
"""A blog feed is tens of kilobytes; anything past this is not a feed worth reading."""
USER_AGENT = f"riverbend-newsletter/{__version__} (feed import)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/html;q=0.8, */*;q=0.5"
)


@dataclass(frozen=True)
class Fetched:
    """What came back: the URL asked for, the one answered after redirects, the bytes."""

    url: str
    final_url: str
    body: bytes
    content_type: str


class _WebOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(  # noqa: PLR0917 - the standard library fixes this signature
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise FeedError(f"{req.full_url}: redirected to {newurl!r}, which is not http(s)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_WebOnlyRedirects())


def check_url(url: str) -> str:
    """``url`` stripped, or ``FeedError`` when it is not an absolute http(s) URL."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FeedError(f"{url!r} is not an http:// or https:// URL")
    return url


def fetch(url: str, *, timeout: float, max_bytes: int = MAX_BYTES) -> Fetched:
    """GET ``url``; ``FeedError`` naming the URL and the reason for any failure."""
    url = check_url(url)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": ACCEPT})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            body = response.read(max_bytes + 1)
            final_url = response.geturl()
            content_type = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        raise FeedError(f"{url}: the server answered HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise FeedError(f"{url}: cannot connect ({_reason(exc.reason)})") from exc
    except TimeoutError as exc:
        raise FeedError(f"{url}: no answer within {timeout:g} s") from exc
    except (http.client.HTTPException, ConnectionError) as exc:
        raise FeedError(
            f"{url}: the connection closed before a complete answer ({_reason(exc)})"
        ) from exc
    except OSError as exc:
        raise FeedError(f"{url}: cannot read the answer ({_reason(exc)})") from exc
    if len(body) > max_bytes:
        raise FeedError(f"{url}: the answer is larger than {max_bytes // 1024} KiB; not read")
    if not body.strip():
        raise FeedError(f"{url}: the server sent an empty answer")
    return Fetched(url=url, final_url=final_url, body=body, content_type=content_type)


def _reason(reason: object) -> str:
    if isinstance(reason, BaseException):
        text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
        return str(text)
    return str(reason)
