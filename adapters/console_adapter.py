"""Console adapter: alerts in the terminal (rich panels or JSON lines), commands typed at stdin.

The platform with no tokens, used by the demo, ``herald run --once`` pipelines and tests. Feed
text is rendered through ``rich.text.Text`` (never as markup), so a title like ``[bold]`` or an
ANSI escape cannot restyle the terminal.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from typing import Any, TextIO

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from bot.adapter import AdapterContext, CommandHandler
from bot.outbox import digest_headline
from bot.settings import ConsoleSettings
from bot.types import Alert, AlertKind, Caller, Notice, Reply

PLATFORM = "console"


def alert_record(alert: Alert) -> dict[str, Any]:
    """The JSON-lines shape of an alert (one object per line)."""
    item = alert.item
    record: dict[str, Any] = {
        "platform": alert.platform,
        "channel": alert.channel,
        "kind": alert.kind.value,
        "topics": list(alert.topics),
        "feed": item.feed,
        "title": item.title,
        "link": item.link,
        "summary": item.summary,
        "published": item.published.isoformat().replace("+00:00", "Z") if item.published else None,
        "key": item.story_key,
        "image": item.image,
        "delivery_id": alert.delivery_id,
    }
    if alert.kind is AlertKind.DIGEST:
        record["title"] = digest_headline(alert)
        record["items"] = [
            {"title": i.title, "link": i.link, "feed": i.feed, "key": i.story_key}
            for i in alert.items
        ]
    return record


class ConsoleAdapter:
    platform = PLATFORM

    def __init__(
        self,
        settings: ConsoleSettings,
        *,
        stdout: TextIO | None = None,
        stdin: TextIO | None = None,
        user_id: str = "local",
    ) -> None:
        self.settings = settings
        self.out = stdout or sys.stdout
        self.stdin = stdin
        self.user_id = user_id
        self.console = Console(file=self.out, highlight=False, soft_wrap=False)
        self._reader: asyncio.Task[None] | None = None
        self.replies: list[Reply] = []

    def _interactive(self) -> bool:
        mode = self.settings.interactive
        if mode == "no":
            return False
        stream = self.stdin if self.stdin is not None else sys.stdin
        return mode == "yes" or (stream is not None and stream.isatty())

    async def start(self, commands: CommandHandler) -> None:
        if self._reader is None and self._interactive():
            stream = self.stdin if self.stdin is not None else sys.stdin
            self._reader = asyncio.create_task(self._read_commands(commands, stream))
            self.console.print(Text("Type /news help for commands; Ctrl-C to quit.", style="dim"))

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None

    async def _read_commands(self, commands: CommandHandler, stream: TextIO) -> None:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue()

        def pump() -> None:
            # A daemon thread: a blocked readline must never keep the process alive at exit.
            for line in stream:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=pump, name="console-stdin", daemon=True).start()
        while (line := await lines.get()) is not None:
            if not line.strip():
                continue
            caller = Caller(
                PLATFORM,
                self.user_id,
                self.settings.channel,
                is_platform_admin=True,
                display_name="console",
            )
            reply = await commands.handle(caller, line.strip())
            self.show_reply(reply)

    def show_reply(self, reply: Reply) -> None:
        self.replies.append(reply)
        if self.settings.format == "jsonl":
            self._line({"reply": reply.text, "ok": reply.ok})
        else:
            self.console.print(Text(reply.text, style="" if reply.ok else "red"))

    def _line(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.out.flush()

    async def send_alert(self, alert: Alert) -> str | None:
        if self.settings.format == "jsonl":
            self._line(alert_record(alert))
        else:
            self.console.print(self._panel(alert))
        return f"console-{alert.delivery_id}"

    async def send_notice(self, notice: Notice) -> str | None:
        if self.settings.format == "jsonl":
            self._line({"platform": PLATFORM, "channel": notice.channel, "notice": notice.text})
        else:
            self.console.print(
                Panel(Text(notice.text), title="admin notice", border_style="yellow")
            )
        return None

    def _panel(self, alert: Alert) -> Panel:
        if alert.kind is AlertKind.DIGEST:
            body = Text()
            for i in alert.items:
                body.append("• ")
                body.append(i.title or "(untitled)", style="bold")
                if i.link:
                    body.append(f"  {i.link}", style="blue")
                body.append("\n")
            title = Text(digest_headline(alert))
            return Panel(body, title=title, title_align="left", border_style="cyan")
        item = alert.item
        head = Text(item.title or "(untitled)", style="bold")
        parts: list[Text] = [head]
        if item.summary:
            parts.append(Text(item.summary))
        if item.link:
            parts.append(Text(item.link, style="blue underline"))
        when = item.published.strftime("%Y-%m-%d %H:%M UTC") if item.published else "undated"
        footer = Text(
            f"{item.feed} · {when} · #{alert.channel} · {', '.join(alert.topics)}", style="dim"
        )
        return Panel(Group(*parts), subtitle=footer, subtitle_align="right", border_style="green")


def create(ctx: AdapterContext) -> ConsoleAdapter:
    return ConsoleAdapter(ctx.settings.adapters.console, stdout=ctx.stdout, stdin=ctx.stdin)
