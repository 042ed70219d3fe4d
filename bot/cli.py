"""The ``herald`` command line: run, demo, config check, feeds list/check, topics test.

Owns argument parsing, logging setup (to stderr, so JSON lines on stdout stay clean), exit codes
(0 ok, 1 failure, 2 bad configuration or usage, 3 storage) and progress display on a TTY.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from bot import __version__
from bot.adapter import Adapter, AdapterContext, load_adapter
from bot.app import Herald, fetch_limits
from bot.clock import SystemClock
from bot.commands import topic_test
from bot.errors import CommandError, ConfigError, FetchError, HeraldError, ParseError, StorageError
from bot.fetch import Fetcher
from bot.normalize import read_feed_off_loop
from bot.redact import install as install_redaction
from bot.redact import redact
from bot.settings import Settings, load_settings
from bot.storage import open_storage
from bot.summarize import make_summarizer
from bot.topics import MatchDoc, TopicMatcher, prepare

DEFAULT_CONFIG = "config/herald.toml"
log = logging.getLogger("herald")


def _config_path(arg: str | None, default: str | None) -> str | None:
    path = arg or os.environ.get("HERALD_CONFIG") or default
    if path:
        return path
    return DEFAULT_CONFIG if Path(DEFAULT_CONFIG).exists() else None


def build_adapters(settings: Settings, ctx: AdapterContext) -> list[Adapter]:
    enabled = [
        name
        for name, section in (
            ("console", settings.adapters.console),
            ("slack", settings.adapters.slack),
            ("discord", settings.adapters.discord),
        )
        if section.enabled
    ]
    return [load_adapter(name, ctx) for name in enabled]


def _progress(enabled: bool) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A rich progress bar on a TTY (long first polls); nothing otherwise."""
    if not enabled:
        return None, lambda: None
    from rich.progress import Progress

    bar = Progress(transient=True, console=None)
    task = bar.add_task("polling feeds", total=None)
    bar.start()

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar.stop


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    clock = SystemClock()
    rng = random.Random()
    ctx = AdapterContext(settings=settings, clock=clock, rng=rng)
    app = Herald(settings, adapters=build_adapters(settings, ctx), clock=clock, rng=rng)
    async with app:
        if args.once:
            update, finish = _progress(sys.stderr.isatty())
            try:
                results = await app.run_once(update)
            finally:
                finish()
            failed = [r for r in results if not r.ok]
            for r in failed:
                log.warning("feed %s: %s", r.url, r.error)
            return 0
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, app.request_stop)
        await app.run_forever()
    return 0


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import Newsroom

    clock = SystemClock()
    rng = random.Random(args.seed)
    newsroom = Newsroom(rng=random.Random(args.seed), clock=clock, interval=args.every)
    await newsroom.start()
    try:
        db = Path("var/demo.db")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)  # each demo starts fresh
        # No name: alerts show each outlet's own feed title ("Summit Wire", ...).
        feeds = [{"url": url} for url in newsroom.feed_urls.values()]
        data = settings.model_dump(mode="python")
        data.update(feeds=feeds, storage={"url": f"sqlite:///{db}"})
        data["fetch"] = {**data["fetch"], "allow_private_networks": True}
        for key in ("discord_token", "slack_bot_token", "slack_app_token", "slack_signing_secret"):
            data.pop(key, None)
        demo_settings = Settings.model_validate(data)
        ctx = AdapterContext(settings=demo_settings, clock=clock, rng=rng)
        app = Herald(
            demo_settings, adapters=build_adapters(demo_settings, ctx), clock=clock, rng=rng
        )
        if not args.verbose:
            # The demo is about the alerts; per-poll log lines would bury them (-v shows them).
            logging.getLogger("herald").setLevel(logging.WARNING)
        print(
            f"Herald {__version__} demo: a simulated newsroom at {newsroom.feed_urls}\n"
            f"publishes a story every ~{args.every:g} s; alerts appear below.",
            file=sys.stderr,
        )
        publisher = asyncio.create_task(newsroom.run())
        async with app:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, app.request_stop)
            if args.seconds:
                loop.call_later(args.seconds, app.request_stop)
            await app.run_forever()
        publisher.cancel()
        await asyncio.gather(publisher, return_exceptions=True)
    finally:
        await newsroom.stop()
    return 0


async def cmd_config_check(args: argparse.Namespace, settings: Settings) -> int:
    # Building the enabled adapters checks what only they know (their secrets, their modes).
    ctx = AdapterContext(settings=settings, clock=SystemClock(), rng=random.Random(0))
    build_adapters(settings, ctx)
    print(json.dumps(settings.masked(), indent=2))
    print("configuration is valid", file=sys.stderr)
    return 0


async def cmd_feeds_list(args: argparse.Namespace, settings: Settings) -> int:
    storage = await open_storage(settings.storage.url)
    try:
        app_feeds = {f.url for f in settings.feeds}
        feeds = await storage.list_feeds()
        known = {f.url for f in feeds}
        rows: list[dict[str, Any]] = []
        for f in feeds:
            rows.append(
                {
                    "url": f.url,
                    "name": f.display_name,
                    "state": "ok" if f.state == "new" else f.state,
                    "polled": f.last_polled_at is not None,
                    "last_error": redact(f.last_error) if f.last_error else None,
                    "consecutive_failures": f.consecutive_failures,
                    "last_polled_at": f.last_polled_at.isoformat() if f.last_polled_at else None,
                    "last_new_at": f.last_new_at.isoformat() if f.last_new_at else None,
                    "next_poll_at": f.next_poll_at.isoformat(),
                    "source": f.source,
                }
            )
        for url in sorted(app_feeds - known):
            rows.append(
                {
                    "url": url,
                    "name": url,
                    "state": "ok",
                    "polled": False,
                    "last_error": None,
                    "consecutive_failures": 0,
                    "last_polled_at": None,
                    "last_new_at": None,
                    "next_poll_at": None,
                    "source": "config",
                }
            )
    finally:
        await storage.close()
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            err = f" — {r['last_error']}" if r["last_error"] else ""
            seen = "" if r["polled"] else " (not polled yet)"
            print(f"{r['state']:9} {r['name']} <{r['url']}>{seen}{err}")
    return 0


async def cmd_feeds_check(args: argparse.Namespace, settings: Settings) -> int:
    fetcher = Fetcher(
        fetch_limits(settings), allow_private_networks=settings.fetch.allow_private_networks
    )
    try:
        result = await fetcher.fetch(args.url)
        assert result.body is not None
        parsed, entries = await read_feed_off_loop(
            result.body, url=result.url, content_type=result.content_type
        )
    except (FetchError, ParseError) as exc:
        print(f"error: {redact(exc)}", file=sys.stderr)
        return 1
    finally:
        await fetcher.close()
    matcher = TopicMatcher({t.name: t.query for t in settings.topics})
    summarizer = make_summarizer(settings.summary.method)
    print(
        f"{parsed.title or '(untitled)'} — {parsed.format}, {len(entries)} item(s)"
        + (f"; malformed but readable: {parsed.bozo_message}" if parsed.bozo else "")
    )
    for e in entries[: args.limit]:
        topics = matcher.match(
            prepare(MatchDoc(e.title, e.summary, parsed.title or "", e.categories))
        )
        summary = summarizer.summarize(
            e.title,
            e.summary,
            max_chars=settings.summary.max_chars,
            max_sentences=settings.summary.max_sentences,
        )
        when = e.published.isoformat() if e.published else "undated"
        print(
            f"\n• {e.title}\n  {e.link or '(no link)'} · {when}"
            f" · topics: {', '.join(topics) or 'none'}"
        )
        if summary:
            print(f"  {summary}")
    return 0


async def cmd_topics_test(args: argparse.Namespace, settings: Settings) -> int:
    storage = await open_storage(settings.storage.url)
    try:
        lines = await topic_test(storage, args.query, limit=args.limit)
    except CommandError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        await storage.close()
    print("\n".join(lines))
    return 0


async def cmd_summarize(args: argparse.Namespace, settings: Settings) -> int:
    from bot.summarize_cmd import run_summarize

    return await run_summarize(args.input, args.method or settings.summary.method, settings)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="herald", description="News alerts for Discord and Slack.")
    p.add_argument("--version", action="version", version=f"herald {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help=f"TOML file (default: $HERALD_CONFIG or {DEFAULT_CONFIG})")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common], help="poll feeds and deliver alerts")
    run.add_argument("--once", action="store_true", help="poll every feed once, deliver, exit")
    run.set_defaults(fn=cmd_run)

    demo = sub.add_parser("demo", parents=[common], help="run on a simulated local newsroom")
    demo.add_argument("--seconds", type=float, default=0, help="stop after this long")
    demo.add_argument("--every", type=float, default=6.0, help="seconds between stories")
    demo.add_argument("--seed", type=int, default=2026)
    demo.set_defaults(fn=cmd_demo, default_config="config/demo.toml")

    cfg = sub.add_parser("config", help="configuration tools").add_subparsers(
        dest="config_command", required=True
    )
    check = cfg.add_parser("check", parents=[common], help="validate and print (secrets masked)")
    check.set_defaults(fn=cmd_config_check)

    feeds = sub.add_parser("feeds", help="feed tools").add_subparsers(
        dest="feeds_command", required=True
    )
    fl = feeds.add_parser("list", parents=[common], help="feeds with their health")
    fl.add_argument("--format", choices=("text", "json"), default="text")
    fl.set_defaults(fn=cmd_feeds_list)
    fc = feeds.add_parser("check", parents=[common], help="fetch+parse a URL without storing")
    fc.add_argument("url")
    fc.add_argument("--limit", type=int, default=10)
    fc.set_defaults(fn=cmd_feeds_check)

    topics = sub.add_parser("topics", help="topic tools").add_subparsers(
        dest="topics_command", required=True
    )
    tt = topics.add_parser("test", parents=[common], help="which stored items a query matches")
    tt.add_argument("query")
    tt.add_argument("--limit", type=int, default=20)
    tt.set_defaults(fn=cmd_topics_test)

    sm = sub.add_parser(
        "summarize", parents=[common], help="JSON lines {id, text, title?} in, {id, summary} out"
    )
    sm.add_argument("--input", default=None, help="a JSON-lines file (default: stdin)")
    sm.add_argument("--method", choices=("extractive", "lead", "llm"), default=None)
    sm.set_defaults(fn=cmd_summarize)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("apscheduler", "alembic", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_redaction()
    config = _config_path(getattr(args, "config", None), getattr(args, "default_config", None))
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        print(f"herald: {redact(exc)}", file=sys.stderr)
        return 2
    fn: Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]] = args.fn
    try:
        return asyncio.run(fn(args, settings))
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        print(f"herald: {redact(exc)}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"herald: storage: {redact(exc)}", file=sys.stderr)
        return 3
    except HeraldError as exc:
        print(f"herald: {redact(exc)}", file=sys.stderr)
        return 1
