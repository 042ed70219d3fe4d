"""The summary step of the pipeline: which text to summarize, and with which summarizer.

Owns the per-deployment choice (``summary.method``) and everything around the summarizer proper
(``bot.summarize``): the budget from config, and -- as it grows -- fetching the article when a
feed gives only a teaser, caching, and falling back when a remote summarizer fails. The poller
calls :meth:`SummaryService.summary_for` once per story, never per channel.
"""

from __future__ import annotations

from bot.clock import Clock
from bot.fetch import Fetcher
from bot.settings import Settings
from bot.summarize import Summarizer, make_summarizer
from bot.types import Entry


class SummaryService:
    def __init__(self, settings: Settings, fetcher: Fetcher, *, clock: Clock) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self.clock = clock
        self.summarizer: Summarizer = make_summarizer(settings.summary.method)

    async def summary_for(self, entry: Entry) -> str:
        """The alert summary for ``entry``: plain text within budget, or "" if nothing to say."""
        budget = self.settings.summary
        return self.summarizer.summarize(
            entry.title,
            entry.summary,
            max_chars=budget.max_chars,
            max_sentences=budget.max_sentences,
        )

    async def close(self) -> None:
        """Release what the service holds (caches, remote clients)."""
