"""Tests for bot.llm against a local fake OpenAI-compatible chat-completions server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from bot.clock import ManualClock
from bot.llm import LLMConfig, LLMSummarizer
from bot.summarize import ExtractiveSummarizer

TITLE = "Bridge into Riverton closed by floods"
TEXT = (
    "Flooding closed the main bridge into Riverton on Monday after the river rose two metres. "
    "Engineers said the bridge would stay shut while divers inspect its piers for damage. "
    "Officials said flooding could close the bridge again next week if rain continues. "
    "A temporary ferry will carry commuters across the river from Wednesday morning."
)
OFFLINE = ExtractiveSummarizer().summarize(TITLE, TEXT)


def completion(content: Any, *, total_tokens: int | None = 50) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }
    if total_tokens is not None:
        body["usage"] = {"prompt_tokens": 40, "completion_tokens": 10, "total_tokens": total_tokens}
    return body


@dataclass
class Reply:
    """One scripted answer: JSON ``body`` (or raw ``raw``), ``status``, headers; ``hang`` waits
    until the test ends."""

    body: Any = None
    raw: bytes | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


class FakeOpenAI:
    """An OpenAI-compatible ``POST /v1/chat/completions`` that answers from a script."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def answer(self, *replies: Reply) -> None:
        self.replies = list(replies)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        self.headers.append(dict(request.headers))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if reply.hang:
            await self._release.wait()
        if reply.raw is not None:
            return web.Response(body=reply.raw, status=reply.status, headers=reply.headers)
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)


@pytest_asyncio.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def make_llm(fake_openai: FakeOpenAI) -> AsyncIterator[Any]:
    made: list[LLMSummarizer] = []

    def make(clock: ManualClock | None = None, **config: Any) -> LLMSummarizer:
        options: dict[str, Any] = {
            "base_url": fake_openai.base_url,
            "model": "test-model",
            "api_key": "sk-test",
            "timeout": 5.0,
            **config,
        }
        llm = LLMSummarizer(LLMConfig(**options), clock=clock or ManualClock())
        made.append(llm)
        return llm

    yield make
    for llm in made:
        await llm.close()


async def test_success_sends_a_strict_prompt_and_returns_the_answer(
    fake_openai: FakeOpenAI, make_llm: Any
) -> None:
    fake_openai.answer(
        Reply(completion("Divers will inspect the piers. A ferry starts Wednesday."))
    )
    llm = make_llm()
    out = await llm.summarize("k1", TITLE, TEXT, max_chars=280, max_sentences=2)
    assert out == "Divers will inspect the piers. A ferry starts Wednesday."
    (request,) = fake_openai.requests
    assert request["model"] == "test-model"
    assert request["temperature"] == 0.0
    system, user = request["messages"]
    assert system["role"] == "system"
    assert "at most 2" in system["content"] and "280 characters" in system["content"]
    assert "no speculation" in system["content"]
    assert TITLE in user["content"] and "temporary ferry" in user["content"]
    assert fake_openai.headers[0]["Authorization"] == "Bearer sk-test"
    assert llm.stats["requests"] == 1 and llm.stats["fallbacks"] == 0


async def test_answer_is_cleaned_and_fitted_to_the_budget(
    fake_openai: FakeOpenAI, make_llm: Any
) -> None:
    answer = (
        "**Summary:** The [bridge](http://x.test) stays shut @everyone <@123>. "
        "Divers inspect it. A ferry starts Wednesday."
    )
    fake_openai.answer(Reply(completion(answer)))
    out = await make_llm().summarize("k", TITLE, TEXT, max_chars=60, max_sentences=2)
    assert len(out) <= 60
    for banned in ("*", "[", "](", "@", "<@", "http"):
        assert banned not in out
    assert out.startswith("Summary: The bridge stays shut everyone.")


async def test_cache_by_entry_key(fake_openai: FakeOpenAI, make_llm: Any) -> None:
    fake_openai.answer(Reply(completion("First answer.")), Reply(completion("Second answer.")))
    llm = make_llm()
    assert await llm.summarize("same", TITLE, TEXT) == "First answer."
    assert await llm.summarize("same", TITLE, TEXT) == "First answer."
    assert len(fake_openai.requests) == 1
    assert llm.stats["cache_hits"] == 1
    assert await llm.summarize("other", TITLE, TEXT) == "Second answer."
    assert len(fake_openai.requests) == 2


async def test_cache_is_bounded(fake_openai: FakeOpenAI, make_llm: Any) -> None:
    fake_openai.answer(Reply(completion("An answer.")))
    llm = make_llm(cache_size=2)
    for key in ("a", "b", "c"):
        await llm.summarize(key, TITLE, TEXT)
    await llm.summarize("a", TITLE, TEXT)  # evicted: asked again
    assert len(fake_openai.requests) == 4


async def test_timeout_falls_back_to_extractive(fake_openai: FakeOpenAI, make_llm: Any) -> None:
    fake_openai.answer(Reply(hang=True))
    llm = make_llm(timeout=0.2)
    assert await llm.summarize("k", TITLE, TEXT) == OFFLINE
    assert llm.stats["fallbacks"] == 1


async def test_429_falls_back_and_honours_retry_after(
    fake_openai: FakeOpenAI, make_llm: Any
) -> None:
    fake_openai.answer(
        Reply({"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "30"}),
        Reply(completion("Back again.")),
    )
    clock = ManualClock()
    llm = make_llm(clock)
    assert await llm.summarize("k1", TITLE, TEXT) == OFFLINE
    assert await llm.summarize("k2", TITLE, TEXT) == OFFLINE  # still paused: not even asked
    assert len(fake_openai.requests) == 1
    assert llm.stats["capped"] == 1
    clock.advance(31)
    assert await llm.summarize("k3", TITLE, TEXT) == "Back again."
    assert len(fake_openai.requests) == 2


async def test_server_error_falls_back(fake_openai: FakeOpenAI, make_llm: Any) -> None:
    fake_openai.answer(Reply({"error": "boom"}, status=500), Reply(completion("Recovered.")))
    llm = make_llm()
    assert await llm.summarize("k", TITLE, TEXT) == OFFLINE
    # Failures are not cached: the next poll of the same story asks again.
    assert await llm.summarize("k", TITLE, TEXT) == "Recovered."


@pytest.mark.parametrize(
    "reply",
    [
        Reply(raw=b"<html>Bad gateway</html>"),
        Reply(raw=b'{"choices": [}'),
        Reply({"choices": []}),
        Reply({"result": "no choices key"}),
        Reply({"choices": [{"message": {}}]}),
        Reply(completion(None)),
        Reply(completion(["a", "list"])),
        Reply(completion("   ")),
        Reply(["not", "an", "object"]),
        Reply({"choices": [{"message": {"content": "x"}, "finish_reason": "content_filter"}]}),
    ],
    ids=[
        "html",
        "broken-json",
        "empty-choices",
        "no-choices",
        "no-content",
        "null-content",
        "list-content",
        "blank-content",
        "json-list",
        "filtered",
    ],
)
async def test_malformed_answers_fall_back(
    fake_openai: FakeOpenAI, make_llm: Any, reply: Reply
) -> None:
    fake_openai.answer(reply)
    llm = make_llm()
    assert await llm.summarize("k", TITLE, TEXT) == OFFLINE
    assert llm.stats == {"requests": 1, "cache_hits": 0, "fallbacks": 1, "capped": 0}


async def test_request_cap_per_hour(fake_openai: FakeOpenAI, make_llm: Any) -> None:
    fake_openai.answer(Reply(completion("Asked.")))
    clock = ManualClock()
    llm = make_llm(clock, max_requests_per_hour=2)
    assert await llm.summarize("a", TITLE, TEXT) == "Asked."
    clock.advance(600)
    assert await llm.summarize("b", TITLE, TEXT) == "Asked."
    assert await llm.summarize("c", TITLE, TEXT) == OFFLINE
    assert len(fake_openai.requests) == 2 and llm.stats["capped"] == 1
    clock.advance(3000)  # the first request is now an hour old
    assert await llm.summarize("d", TITLE, TEXT) == "Asked."
    assert len(fake_openai.requests) == 3


async def test_token_cap_counts_reported_usage(fake_openai: FakeOpenAI, make_llm: Any) -> None:
    fake_openai.answer(Reply(completion("Costly.", total_tokens=9_800)))
    llm = make_llm(max_tokens_per_hour=10_000)
    assert await llm.summarize("a", TITLE, TEXT) == "Costly."
    # 9,800 reported + this request's estimate would pass 10,000: not sent.
    assert await llm.summarize("b", TITLE, TEXT) == OFFLINE
    assert len(fake_openai.requests) == 1


async def test_nothing_to_say(fake_openai: FakeOpenAI, make_llm: Any) -> None:
    fake_openai.answer(Reply(completion("NONE")))
    llm = make_llm()
    assert await llm.summarize("k", TITLE, TEXT) == ""
    # A title-only item is answered offline without a request.
    assert await llm.summarize("t", TITLE, TITLE + ". Continue reading…") == ""
    assert len(fake_openai.requests) == 1


async def test_long_text_is_cut_before_sending(fake_openai: FakeOpenAI, make_llm: Any) -> None:
    fake_openai.answer(Reply(completion("Fine.")))
    await make_llm(max_input_chars=500).summarize("k", TITLE, TEXT * 20)
    user = fake_openai.requests[0]["messages"][1]["content"]
    assert len(user) < 500 + 100


async def test_remote_endpoint_without_key_is_not_called(make_llm: Any) -> None:
    llm = make_llm(base_url="https://llm.example.invalid/v1", api_key=None)
    assert await llm.summarize("k", TITLE, TEXT) == OFFLINE
    assert llm.stats["requests"] == 0 and llm.stats["fallbacks"] == 1


async def test_local_endpoint_needs_no_key(fake_openai: FakeOpenAI, make_llm: Any) -> None:
    fake_openai.answer(Reply(completion("Local model.")))
    assert await make_llm(api_key=None).summarize("k", TITLE, TEXT) == "Local model."
    assert "Authorization" not in fake_openai.headers[0]


async def test_unreachable_endpoint_falls_back(make_llm: Any) -> None:
    server = FakeOpenAI()
    await server.start()
    base_url = server.base_url
    await server.stop()  # nothing listens there any more
    llm = make_llm(base_url=base_url)
    assert await llm.summarize("k", TITLE, TEXT) == OFFLINE


def test_request_body_is_json_serialisable() -> None:
    from bot.llm import build_messages

    messages = build_messages(TITLE, TEXT, max_chars=280, max_sentences=2, max_input_chars=100)
    assert json.loads(json.dumps(messages)) == messages
    assert len(messages[1]["content"]) < 100 + len(TITLE) + 40
