"""The ``llm`` summarizer: any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM).

Owns the request (a strict prompt: at most N sentences, facts from the text only), its timeout,
the hourly cost cap, the answer's clean-up into a within-budget plain-text summary, a bounded LRU
cache by entry key, and the fallback: on ANY failure (no key, timeout, 429, 5xx, malformed
answer, cap reached) the caller gets the offline extractive summary instead, so an alert is
never held back by a remote model. The endpoint is configured by the admin, so it may be local
(``http://127.0.0.1:11434/v1``): it does not go through the feed fetcher's SSRF guard.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from bot import __version__
from bot.clock import Clock
from bot.fetch import parse_retry_after
from bot.summarize import ExtractiveSummarizer, Summarizer, fit_budget

__all__ = ["API_KEY_ENV", "LLMConfig", "LLMSummarizer", "build_messages"]

log = logging.getLogger(__name__)

API_KEY_ENV: Final = "HERALD_LLM_API_KEY"
_NOTHING: Final = "NONE"
_DEFAULT_BACKOFF: Final = 60.0
_MAX_RESPONSE_BYTES: Final = 256 * 1024

SYSTEM_PROMPT: Final = (
    "You write news alert summaries. Rules: write at most {sentences} plain sentences and at "
    "most {chars} characters in total. Use only facts stated in the article text; add nothing "
    "from elsewhere; no speculation, opinion or advice. Do not repeat the headline: add what it "
    "does not say. No markdown, no lists, no emoji, no links, no @mentions, no preamble such as "
    '"Summary:". If the text says nothing beyond the headline, answer exactly ' + _NOTHING + "."
)


@dataclass(frozen=True, slots=True)
class LLMConfig:
    """Where and how to ask. ``api_key`` comes from ``HERALD_LLM_API_KEY``, never from a file.

    The cost cap counts tokens over a sliding hour: the answer's ``usage.total_tokens`` when the
    server reports it, else an estimate (characters / 4). A request that could push the hour
    over ``max_tokens_per_hour`` (or beyond ``max_requests_per_hour`` requests) is not sent.
    """

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key: str | None = None
    timeout: float = 20.0
    max_requests_per_hour: int = 600
    max_tokens_per_hour: int = 300_000
    max_input_chars: int = 8000
    max_output_tokens: int = 200
    cache_size: int = 2048
    temperature: float = 0.0


def build_messages(
    title: str, text: str, *, max_chars: int, max_sentences: int, max_input_chars: int
) -> list[dict[str, str]]:
    """The chat messages for one item (the article text is cut to ``max_input_chars``)."""
    body = text if len(text) <= max_input_chars else text[:max_input_chars].rsplit(" ", 1)[0]
    return [
        {
            "role": "system",
            "content": SYSTEM_PROMPT.format(sentences=max_sentences, chars=max_chars),
        },
        {"role": "user", "content": f"Headline: {title.strip()}\n\nArticle text:\n{body.strip()}"},
    ]


class _Failure(Exception):
    """Why the remote summary could not be used (one line, logged; never shown to users)."""


class LLMSummarizer:
    """Summaries from a chat-completions endpoint, falling back to ``fallback`` on any failure.

    ``stats`` counts ``requests``, ``cache_hits``, ``fallbacks`` and ``capped`` (requests not
    sent because of the hourly cap or a server's Retry-After).
    """

    name = "llm"

    def __init__(
        self,
        config: LLMConfig,
        *,
        clock: Clock,
        fallback: Summarizer | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self.fallback: Summarizer = fallback or ExtractiveSummarizer()
        self._session: aiohttp.ClientSession | None = None
        self._cache: OrderedDict[tuple[str, int, int], str] = OrderedDict()
        self._spent: deque[tuple[float, int]] = deque()  # (monotonic, tokens) in the last hour
        self._paused_until = 0.0
        self.stats: dict[str, int] = {"requests": 0, "cache_hits": 0, "fallbacks": 0, "capped": 0}

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                trust_env=False,
                headers={"User-Agent": f"Herald/{__version__}"},
            )
        return self._session

    async def summarize(
        self, key: str, title: str, text: str, *, max_chars: int = 280, max_sentences: int = 2
    ) -> str:
        """The summary of one item; cached by ``key`` (the entry key) and budget."""
        offline = self.fallback.summarize(
            title, text, max_chars=max_chars, max_sentences=max_sentences
        )
        if not offline:
            return ""  # nothing beyond the headline: no need to pay for a call to say so
        cache_key = (key, max_chars, max_sentences)
        cached = self._cache.get(cache_key)
        if cached is not None:
            self._cache.move_to_end(cache_key)
            self.stats["cache_hits"] += 1
            return cached
        try:
            summary = await self._ask(title, text, max_chars, max_sentences)
        except _Failure as exc:
            self.stats["fallbacks"] += 1
            log.warning("llm summary failed, using the extractive one: %s", exc)
            return offline
        self._cache[cache_key] = summary
        while len(self._cache) > self.config.cache_size:
            self._cache.popitem(last=False)
        return summary

    # ----------------------------------------------------------------------------------------

    def _spent_last_hour(self, now: float) -> tuple[int, int]:
        while self._spent and now - self._spent[0][0] >= 3600.0:
            self._spent.popleft()
        return len(self._spent), sum(tokens for _, tokens in self._spent)

    def _admit(self, estimate: int) -> None:
        cfg = self.config
        now = self._clock.monotonic()
        if now < self._paused_until:
            self.stats["capped"] += 1
            raise _Failure(f"the server asked us to wait {self._paused_until - now:.0f} s more")
        requests, tokens = self._spent_last_hour(now)
        if requests >= cfg.max_requests_per_hour or tokens + estimate > cfg.max_tokens_per_hour:
            self.stats["capped"] += 1
            raise _Failure(
                f"hourly cost cap reached ({requests} requests, {tokens} tokens in the last hour)"
            )

    async def _ask(self, title: str, text: str, max_chars: int, max_sentences: int) -> str:
        cfg = self.config
        if not cfg.api_key and not _is_local(cfg.base_url):
            raise _Failure(f"no API key: set {API_KEY_ENV}")
        messages = build_messages(
            title,
            text,
            max_chars=max_chars,
            max_sentences=max_sentences,
            max_input_chars=cfg.max_input_chars,
        )
        estimate = math.ceil(sum(len(m["content"]) for m in messages) / 4) + cfg.max_output_tokens
        self._admit(estimate)
        payload: dict[str, Any] = {
            "model": cfg.model,
            "messages": messages,
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_output_tokens,
            "stream": False,
        }
        headers = {"Content-Type": "application/json"}
        if cfg.api_key:
            headers["Authorization"] = f"Bearer {cfg.api_key}"
        url = cfg.base_url.rstrip("/") + "/chat/completions"
        self.stats["requests"] += 1
        # Charged up front: a request that times out may still be billed.
        self._spent.append((self._clock.monotonic(), estimate))
        try:
            async with asyncio.timeout(cfg.timeout):
                status, body, retry_after = await self._post(url, payload, headers)
        except TimeoutError:
            raise _Failure(f"no answer within {cfg.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise _Failure(f"request failed: {type(exc).__name__}") from None
        if status == 429 or status == 503:
            wait = parse_retry_after(retry_after, self._clock.now())
            self._paused_until = self._clock.monotonic() + (
                wait if wait is not None else _DEFAULT_BACKOFF
            )
            raise _Failure(f"HTTP {status}: rate limited")
        if status != 200:
            raise _Failure(f"HTTP {status}")
        content, used = _parse_answer(body)
        if used is not None:
            self._spent[-1] = (self._spent[-1][0], used)
        if content.strip().rstrip(".").upper() == _NOTHING:
            return ""
        summary = fit_budget(content, max_chars=max_chars, max_sentences=max_sentences)
        if not summary:
            raise _Failure("the answer was empty")
        return summary

    async def _post(
        self, url: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, bytes, str | None]:
        session = self._get_session()
        async with session.post(url, json=payload, headers=headers) as resp:
            body = await resp.content.read(_MAX_RESPONSE_BYTES + 1)
            if len(body) > _MAX_RESPONSE_BYTES:
                raise _Failure("the answer is too large")
            return resp.status, body, resp.headers.get("Retry-After")


def _is_local(base_url: str) -> bool:
    # Ollama and vLLM on the same machine need no key.
    from urllib.parse import urlsplit

    host = (urlsplit(base_url).hostname or "").lower()
    return host in ("localhost", "127.0.0.1", "::1")


def _parse_answer(body: bytes) -> tuple[str, int | None]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _Failure("the answer is not JSON") from None
    try:
        choice = data["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise _Failure("the answer has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise _Failure("the answer's content is not text")
    if isinstance(choice, dict) and choice.get("finish_reason") == "content_filter":
        raise _Failure("the answer was filtered")
    used: int | None = None
    usage = data.get("usage") if isinstance(data, dict) else None
    if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
        used = max(0, usage["total_tokens"])
    return content, used
