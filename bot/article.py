"""Article pages: main-text extraction (trafilatura) and the bounded cache of extracted texts.

Used when a feed item carries only a teaser: the summary service fetches the linked page through
the SSRF-guarded, size-capped :class:`bot.fetch.Fetcher`, and this module turns the HTML into
the article's plain text (no navigation, comments, tables or related-story lists). Extraction is
CPU-bound (tens of milliseconds on a large page), so callers run :func:`extract_article` in a
worker thread. The cache is an in-memory LRU (no schema change): a restart merely refetches.
"""

from __future__ import annotations

import logging
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

import trafilatura

from bot.clock import Clock

__all__ = ["ArticleCache", "CachedArticle", "extract_article", "is_html"]

# trafilatura logs every page it finds too short or unparsable at WARNING; for us that is an
# ordinary outcome (we fall back to the feed's text), not something an admin must see.
logging.getLogger("trafilatura").setLevel(logging.ERROR)

_HTML_TYPES = ("text/html", "application/xhtml+xml")


def is_html(content_type: str | None) -> bool:
    """True when a response's Content-Type is HTML (or absent: servers often omit it)."""
    if not content_type:
        return True
    return content_type.split(";", 1)[0].strip().lower() in _HTML_TYPES


def extract_article(html: bytes | str, url: str | None = None) -> str:
    """The main text of an article page: paragraphs separated by newlines, "" when none found.

    ``html`` may be bytes in any declared or detectable charset. Comments, tables and images
    are left out: they are not the story.
    """
    if not html:
        return ""
    try:
        text = trafilatura.extract(
            html,
            url=url,
            output_format="txt",
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            deduplicate=True,
        )
    except (ValueError, TypeError, LookupError, RecursionError):
        # A hostile or broken page must cost us one item's summary, never the poller.
        return ""
    if not text:
        return ""
    lines = (" ".join(line.split()) for line in unicodedata.normalize("NFC", text).splitlines())
    return "\n".join(line for line in lines if line)


@dataclass(frozen=True, slots=True)
class CachedArticle:
    """One cache entry: the extracted ``text`` ("" when fetching or extracting failed)."""

    text: str
    stored_at: float  # clock.monotonic() when stored


class ArticleCache:
    """Bounded LRU of extracted article texts keyed by URL, with expiry.

    Failures are cached too (as ``""``) but for ``failure_ttl`` only, so a page that is down is
    not hammered on every poll yet is retried later. Lookups refresh recency, not age.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        max_entries: int = 512,
        ttl: float = 24 * 3600.0,
        failure_ttl: float = 15 * 60.0,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._clock = clock
        self._max = max_entries
        self._ttl = ttl
        self._failure_ttl = failure_ttl
        self._items: OrderedDict[str, CachedArticle] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, url: str) -> CachedArticle | None:
        item = self._items.get(url)
        if item is None:
            return None
        ttl = self._ttl if item.text else self._failure_ttl
        if self._clock.monotonic() - item.stored_at >= ttl:
            del self._items[url]
            return None
        self._items.move_to_end(url)
        return item

    def put(self, url: str, text: str) -> None:
        self._items[url] = CachedArticle(text, self._clock.monotonic())
        self._items.move_to_end(url)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()
