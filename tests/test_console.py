"""The console adapter: JSON lines, rich panels that never interpret feed text, typed commands."""

from __future__ import annotations

import asyncio
import io
import json
import os
from datetime import UTC, datetime

from adapters.console_adapter import ConsoleAdapter
from bot.settings import ConsoleSettings
from bot.types import Alert, AlertItem, AlertKind, Caller, Reply

ITEM = AlertItem(
    story_key="k" * 64,
    feed="Wire",
    title="[bold red]NATO[/] \x1b[31mred\x1b[0m summit",
    link="https://w.example/1",
    summary="Allies met.",
    published=datetime(2026, 7, 1, 8, 30, tzinfo=UTC),
)


def alert(kind: AlertKind = AlertKind.STORY, items: tuple[AlertItem, ...] = (ITEM,)) -> Alert:
    return Alert(
        delivery_id=7,
        platform="console",
        workspace=None,
        channel="desk",
        topics=("nato",),
        items=items,
        kind=kind,
    )


async def test_jsonl_has_the_contract_fields() -> None:
    out = io.StringIO()
    adapter = ConsoleAdapter(ConsoleSettings(format="jsonl"), stdout=out)
    assert await adapter.send_alert(alert()) == "console-7"
    record = json.loads(out.getvalue())
    assert record["published"] == "2026-07-01T08:30:00Z"
    for key in ("platform", "channel", "topics", "feed", "title", "link", "summary", "key"):
        assert key in record
    assert record["topics"] == ["nato"] and record["key"] == "k" * 64


async def test_digest_names_the_count_and_topic() -> None:
    out = io.StringIO()
    adapter = ConsoleAdapter(ConsoleSettings(format="jsonl"), stdout=out)
    await adapter.send_alert(alert(AlertKind.DIGEST, (ITEM, ITEM, ITEM)))
    record = json.loads(out.getvalue())
    assert record["kind"] == "digest" and record["title"] == "3 more stories on nato"
    assert len(record["items"]) == 3


async def test_rich_output_shows_markup_literally() -> None:
    out = io.StringIO()
    adapter = ConsoleAdapter(ConsoleSettings(format="rich"), stdout=out)
    await adapter.send_alert(alert())
    text = out.getvalue()
    assert "[bold red]NATO[/]" in text  # not interpreted as rich markup
    assert "Wire" in text and "https://w.example/1" in text


class Echo:
    def __init__(self) -> None:
        self.seen: list[tuple[Caller, str]] = []

    async def handle(self, caller: Caller, text: str) -> Reply:
        self.seen.append((caller, text))
        return Reply(f"ok: {text}")


async def test_typed_commands_reach_the_command_service() -> None:
    read_fd, write_fd = os.pipe()
    stdin = os.fdopen(read_fd, "r")
    out = io.StringIO()
    adapter = ConsoleAdapter(
        ConsoleSettings(format="jsonl", interactive="yes", channel="ops"), stdout=out, stdin=stdin
    )
    handler = Echo()
    await adapter.start(handler)
    with os.fdopen(write_fd, "w") as w:
        w.write("/news subscribe nato\n\n/news topics\n")
    for _ in range(200):
        if len(handler.seen) == 2:
            break
        await asyncio.sleep(0.01)
    await adapter.stop()
    stdin.close()
    assert [t for _, t in handler.seen] == ["/news subscribe nato", "/news topics"]
    caller = handler.seen[0][0]
    assert caller.platform == "console" and caller.channel == "ops" and caller.is_platform_admin
    assert "ok: /news topics" in out.getvalue()
