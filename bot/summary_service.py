"""The summary step of the pipeline: which text to summarize, and with which summarizer.

Owns the per-deployment choice (``summary.method``: ``extractive``, ``lead`` or ``llm``) and
everything around the summarizer proper (``bot.summarize``, ``bot.llm``): the budget from config;
reading the article when the feed gives only a teaser (fetched through the SSRF-guarded,
size-capped feed :class:`~bot.fetch.Fetcher`, extracted by ``bot.article``, cached in a bounded
LRU); and falling back to the extractive summary when the remote summarizer fails. The poller
calls :meth:`SummaryService.summary_for` once per story, never per channel.
"""

from __future__ import annotations

import asyncio
import logging

from bot.article import ArticleCache, extract_article, is_html
from bot.clock import Clock
from bot.errors import FetchError
from bot.fetch import Fetcher
from bot.llm import LLMConfig, LLMSummarizer
from bot.settings import Settings
from bot.summarize import ExtractiveSummarizer, Summarizer, make_summarizer, strip_boilerplate
from bot.types import Entry

__all__ = ["SummaryService", "llm_config"]

log = logging.getLogger(__name__)


def llm_config(settings: Settings) -> LLMConfig:
    """The LLM endpoint from ``summary.llm_*`` settings and ``HERALD_LLM_API_KEY``."""
    s = settings.summary
    return LLMConfig(
        base_url=s.llm_base_url,
        model=s.llm_model,
        api_key=settings.secret("llm_api_key"),
        timeout=s.llm_timeout,
        max_requests_per_hour=s.llm_max_requests_per_hour,
        max_tokens_per_hour=s.llm_max_tokens_per_hour,
        cache_size=s.llm_cache_size,
    )


class SummaryService:
    """One per process. ``summary_for`` never raises for a network or model failure."""

    def __init__(self, settings: Settings, fetcher: Fetcher, *, clock: Clock) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self.clock = clock
        method = settings.summary.method
        self.llm: LLMSummarizer | None = None
        if method == "llm":
            self.summarizer: Summarizer = ExtractiveSummarizer()
            self.llm = LLMSummarizer(llm_config(settings), clock=clock, fallback=self.summarizer)
        else:
            self.summarizer = make_summarizer(method)
        s = settings.summary
        self.fetch_article = s.fetch_article
        self.teaser_chars = s.teaser_chars
        self.article_timeout = s.article_timeout
        self.articles = ArticleCache(
            clock=clock, max_entries=s.article_cache_size, ttl=s.article_cache_ttl
        )

    async def summary_for(self, entry: Entry) -> str:
        """The alert summary for ``entry``: plain text within budget, or "" if nothing to say."""
        budget = self.settings.summary
        text = await self.text_for(entry)
        if self.llm is not None:
            return await self.llm.summarize(
                entry.key,
                entry.title,
                text,
                max_chars=budget.max_chars,
                max_sentences=budget.max_sentences,
            )
        return self.summarizer.summarize(
            entry.title,
            text,
            max_chars=budget.max_chars,
            max_sentences=budget.max_sentences,
        )

    def is_teaser(self, text: str) -> bool:
        """True when the feed's text is too short to summarize (boilerplate does not count)."""
        return len(strip_boilerplate(text)) < self.teaser_chars

    async def text_for(self, entry: Entry) -> str:
        """The text to summarize: the feed's, or the linked article's when the feed's is a teaser
        and the article says more."""
        if not (self.fetch_article and entry.link and self.is_teaser(entry.summary)):
            return entry.summary
        article = await self.article_text(entry.link)
        return article if len(article) > len(entry.summary) else entry.summary

    async def article_text(self, url: str) -> str:
        """The main text of the page at ``url`` ("" when it cannot be had); cached, failures too."""
        cached = self.articles.get(url)
        if cached is not None:
            return cached.text
        text = ""
        try:
            async with asyncio.timeout(self.article_timeout):
                result = await self.fetcher.fetch(url)
            if result.body and is_html(result.content_type):
                # Parsing a large page takes tens of ms: keep it off the event loop.
                text = await asyncio.to_thread(extract_article, result.body, result.url)
        except FetchError as exc:
            log.info("article not fetched (%s): %s", url, exc)
        except TimeoutError:
            log.info("article not fetched (%s): timed out after %g s", url, self.article_timeout)
        self.articles.put(url, text)
        return text

    async def close(self) -> None:
        """Release what the service holds (caches, remote clients)."""
        self.articles.clear()
        if self.llm is not None:
            await self.llm.close()
