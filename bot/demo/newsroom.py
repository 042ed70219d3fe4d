"""The simulated newsroom behind ``herald demo``: a local HTTP server publishing fictional feeds.

Three invented outlets each serve one feed format (RSS 2.0, Atom 1.0, JSON Feed 1.1) with
ETag/Last-Modified validators, plus an HTML page per article and a tiny PNG per image. Stories
are published on a clock-driven schedule; all time comes from the injected ``Clock`` and all
chance from the injected ``random.Random``, so a seed and a ``ManualClock`` replay exactly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import json
import random
import struct
import zlib
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

from bot.clock import Clock
from bot.demo.stories import SAFETY_SLUGS, STORIES, Story

WINDOW = 30
"""How many of its newest items each feed keeps."""

DUPLICATE_CHANCE = 0.2
"""Chance that a story also runs on a second outlet (a cross-outlet duplicate)."""

_ARTICLE_MEMORY = 500  # articles stay readable a while after falling out of every feed window


@dataclass(frozen=True, slots=True)
class _Outlet:
    name: str
    title: str
    path: str
    content_type: str
    description: str
    bylines: tuple[str, ...]


_OUTLETS: tuple[_Outlet, ...] = (
    _Outlet(
        "wire",
        "Summit Wire",
        "/wire.rss",
        "application/rss+xml",
        "Fast summit and security wire copy (fictional demo outlet).",
        ("Mara Lindqvist", "Oskar Feldt", "Priya Dunmore"),
    ),
    _Outlet(
        "desk",
        "Capital Desk",
        "/desk.atom",
        "application/atom+xml",
        "Politics and policy from the capital (fictional demo outlet).",
        ("Jonah Whitcombe", "Léa Marchetti", "Tuva Brenne"),
    ),
    _Outlet(
        "briefing",
        "Harbour Briefing",
        "/briefing.json",
        "application/feed+json",
        "The morning briefing from Port Aldric (fictional demo outlet).",
        ("Kofi Ansah-Berg", "Ines Varga", "Rowan Petrich"),
    ),
)
_BY_NAME = {o.name: o for o in _OUTLETS}
_BY_PATH = {o.path: o for o in _OUTLETS}


@dataclass(frozen=True, slots=True)
class Publication:
    """One item as it appeared on one outlet's feed. ``path`` is the article page's path."""

    feed: str
    story: Story
    title: str
    guid: str
    path: str
    author: str
    published: datetime
    duplicate: bool = False


@dataclass(slots=True)
class _FeedState:
    outlet: _Outlet
    items: deque[Publication]
    last_modified: datetime
    version: int = 0
    cache: tuple[int, str, bytes, str] | None = None  # (version, base, body, etag)


class Newsroom:
    """Publishes fictional stories to three local feeds.

    ``initial`` stories are on the feeds before anyone polls. ``publish_next`` runs one more story
    now; ``run`` does so every ``interval`` seconds (jittered ±50 %) until ``stop``. When the
    stories run out they start over under new slugs and titles ("update 2", ...), unless
    ``cycle`` is false, in which case ``publish_next`` returns ``None``.
    """

    def __init__(
        self,
        *,
        rng: random.Random,
        clock: Clock,
        interval: float = 6.0,
        initial: int = 5,
        cycle: bool = True,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        if initial < 0:
            raise ValueError("initial must not be negative")
        self._rng = rng
        self._clock = clock
        self._interval = interval
        self._cycle = cycle
        self._round = 0
        self._queue: deque[Story] = deque()
        self._published: deque[Publication] = deque(maxlen=1000)
        self._articles: OrderedDict[str, Publication] = OrderedDict()
        self._runner: web.AppRunner | None = None
        self._base = ""
        self._run_task: asyncio.Task[Any] | None = None
        self._run_done = asyncio.Event()
        self._run_done.set()
        self._stopping = False
        self.feed_urls: dict[str, str] = {}
        now = clock.now()
        self._feeds = {
            o.name: _FeedState(o, deque(maxlen=WINDOW), last_modified=now) for o in _OUTLETS
        }
        self._refill(initial)
        # The initial batch is backdated so it reads like a newsroom that was already running.
        for i in range(initial):
            self._publish(now - timedelta(seconds=(initial - i) * interval))

    # -- content -----------------------------------------------------------------------------

    @property
    def published(self) -> tuple[Publication, ...]:
        """Every publication so far (the latest 1000), oldest first."""
        return tuple(self._published)

    def items(self, feed: str) -> tuple[Publication, ...]:
        """What ``feed`` currently carries, newest first."""
        return tuple(reversed(self._feeds[feed].items))

    def publish_next(self) -> Story | None:
        """Publish one more story now; ``None`` only when exhausted and not cycling."""
        return self._publish(self._clock.now())

    def _refill(self, initial: int) -> None:
        self._round += 1
        batch = list(STORIES)
        self._rng.shuffle(batch)
        if self._round == 1:
            # Items already present at the first poll are marked seen, never alerted: keep the
            # safety demonstrations out of that batch so the demo always shows them defused.
            head = [s for s in batch[:initial] if s.slug not in SAFETY_SLUGS]
            moved = [s for s in batch[:initial] if s.slug in SAFETY_SLUGS]
            tail = batch[initial:]
            while len(head) < initial and tail:
                pick = next((s for s in tail if s.slug not in SAFETY_SLUGS), None)
                if pick is None:
                    break
                tail.remove(pick)
                head.append(pick)
            batch = head + moved + tail
        else:
            suffix = f"update {self._round}"
            batch = [_relabel(s, self._round, suffix) for s in batch]
        self._queue.extend(batch)

    def _publish(self, at: datetime) -> Story | None:
        if not self._queue:
            if not self._cycle:
                return None
            self._refill(0)
        story = self._queue.popleft()
        names = [o.name for o in _OUTLETS]
        primary = self._rng.choice(names)
        self._add(primary, story, story.title, story.slug, at, duplicate=False)
        if self._rng.random() < DUPLICATE_CHANCE:
            second = self._rng.choice([n for n in names if n != primary])
            title = story.alt_title or f"{story.title} – {_BY_NAME[second].title} report"
            self._add(second, story, title, f"{story.slug}-{second}", at, duplicate=True)
        return story

    def _add(
        self, feed: str, story: Story, title: str, slug: str, at: datetime, *, duplicate: bool
    ) -> None:
        state = self._feeds[feed]
        outlet = state.outlet
        pub = Publication(
            feed=feed,
            story=story,
            title=title,
            guid=f"tag:{outlet.name}.herald-demo.invalid,2026:{slug}",
            path=f"/articles/{slug}",
            author=self._rng.choice(outlet.bylines),
            published=at,
            duplicate=duplicate,
        )
        state.items.append(pub)
        state.version += 1
        state.last_modified = max(state.last_modified, at)
        self._published.append(pub)
        self._articles[slug] = pub
        self._articles.move_to_end(slug)
        while len(self._articles) > _ARTICLE_MEMORY:
            self._articles.popitem(last=False)

    # -- serving -----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the feeds; returns the base URL (``http://host:port``)."""
        if self._runner is not None:
            return self._base
        app = web.Application()
        app.router.add_get("/", self._index)
        for outlet in _OUTLETS:
            app.router.add_get(outlet.path, self._feed)
        app.router.add_get("/articles/{slug}", self._article)
        app.router.add_get("/img/{name}", self._image)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_port = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        self._base = f"http://{shown}:{bound_port}"
        self.feed_urls = {o.name: self._base + o.path for o in _OUTLETS}
        self._stopping = False
        return self._base

    async def stop(self) -> None:
        """Stop ``run`` (if running) and the server. Safe to call more than once."""
        self._stopping = True
        task = self._run_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            # An event rather than awaiting the task: run() may be awaited by a task that is
            # itself waiting for us.
            await self._run_done.wait()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def run(self) -> None:
        """Publish a story every ``interval`` seconds (±50 %) until ``stop`` is called."""
        task = asyncio.current_task()
        self._run_task = task
        self._run_done.clear()
        try:
            while not self._stopping:
                await self._clock.sleep(self._interval * self._rng.uniform(0.5, 1.5))
                if self._stopping:
                    break
                self.publish_next()
        except asyncio.CancelledError:
            if not self._stopping or task is None:
                raise
            # Cancelled by stop(): finish normally, and undo the cancel so an enclosing
            # TaskGroup or timeout does not mistake it for its own.
            task.uncancel()
        finally:
            self._run_task = None
            self._run_done.set()

    async def _index(self, request: web.Request) -> web.Response:
        links = "".join(
            f"<li><a href={quoteattr(o.path)}>{escape(o.title)}</a> ({escape(o.content_type)})</li>"
            for o in _OUTLETS
        )
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            "<title>Herald demo newsroom</title></head><body><h1>Herald demo newsroom</h1>"
            f"<p>Fictional outlets, invented stories.</p><ul>{links}</ul></body></html>"
        )
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    async def _feed(self, request: web.Request) -> web.Response:
        state = self._feeds[_BY_PATH[request.path].name]
        body, etag = self._render_cached(state)
        headers = {
            "ETag": etag,
            "Last-Modified": format_datetime(state.last_modified, usegmt=True),
            "Cache-Control": "no-cache",
        }
        if _not_modified(request, etag, state.last_modified):
            return web.Response(status=304, headers=headers)
        return web.Response(
            body=body, content_type=state.outlet.content_type, charset="utf-8", headers=headers
        )

    async def _article(self, request: web.Request) -> web.Response:
        pub = self._articles.get(request.match_info["slug"])
        if pub is None:
            raise web.HTTPNotFound(text="no such article")
        return web.Response(text=self._article_page(pub), content_type="text/html", charset="utf-8")

    async def _image(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not name.endswith(".png") or len(name) > 200:
            raise web.HTTPNotFound(text="no such image")
        return web.Response(
            body=_png(name.removesuffix(".png")),
            content_type="image/png",
            headers={"Cache-Control": "max-age=86400"},
        )

    # -- rendering ---------------------------------------------------------------------------

    def _render_cached(self, state: _FeedState) -> tuple[bytes, str]:
        cached = state.cache
        if cached is not None and cached[0] == state.version and cached[1] == self._base:
            return cached[2], cached[3]
        render = {"wire": self._rss, "desk": self._atom, "briefing": self._json}[state.outlet.name]
        body = render(state)
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        state.cache = (state.version, self._base, body, etag)
        return body, etag

    def _url(self, path: str) -> str:
        return self._base + path

    def _rss(self, state: _FeedState) -> bytes:
        o = state.outlet
        parts = [
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
            f"<title>{escape(o.title)}</title>\n"
            f"<link>{escape(self._url('/'))}</link>\n"
            f"<description>{escape(o.description)}</description>\n"
            "<language>en</language>\n"
            f"<lastBuildDate>{format_datetime(state.last_modified)}</lastBuildDate>\n"
            f'<atom:link href={quoteattr(self._url(o.path))} rel="self" '
            f"type={quoteattr(o.content_type)}/>\n"
        ]
        for pub in reversed(state.items):
            s = pub.story
            description = s.html if s.html is not None else escape(s.body)
            parts.append(
                "<item>\n"
                f"<title>{escape(pub.title)}</title>\n"
                f"<link>{escape(self._url(pub.path))}</link>\n"
                f'<guid isPermaLink="false">{escape(pub.guid)}</guid>\n'
                f"<pubDate>{format_datetime(pub.published)}</pubDate>\n"
                f"<dc:creator>{escape(pub.author)}</dc:creator>\n"
                + "".join(f"<category>{escape(c)}</category>\n" for c in s.categories)
                + f"<description>{escape(description)}</description>\n"
            )
            if s.image is not None:
                parts.append(
                    f"<enclosure url={quoteattr(self._url(s.image))} "
                    f'length="{len(_png(_image_key(s.image)))}" type="image/png"/>\n'
                )
            parts.append("</item>\n")
        parts.append("</channel>\n</rss>\n")
        return "".join(parts).encode("utf-8")

    def _atom(self, state: _FeedState) -> bytes:
        o = state.outlet
        parts = [
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">\n'
            f"<title>{escape(o.title)}</title>\n"
            f"<subtitle>{escape(o.description)}</subtitle>\n"
            f"<id>tag:{o.name}.herald-demo.invalid,2026:feed</id>\n"
            f"<updated>{_rfc3339(state.last_modified)}</updated>\n"
            f'<link rel="self" type="application/atom+xml" href={quoteattr(self._url(o.path))}/>\n'
            f'<link rel="alternate" type="text/html" href={quoteattr(self._url("/"))}/>\n'
        ]
        for pub in reversed(state.items):
            s = pub.story
            parts.append(
                "<entry>\n"
                f'<title type="text">{escape(pub.title)}</title>\n'
                f"<id>{escape(pub.guid)}</id>\n"
                f'<link rel="alternate" type="text/html" href={quoteattr(self._url(pub.path))}/>\n'
                f"<published>{_rfc3339(pub.published)}</published>\n"
                f"<updated>{_rfc3339(pub.published)}</updated>\n"
                f"<author><name>{escape(pub.author)}</name></author>\n"
                + "".join(f"<category term={quoteattr(c)}/>\n" for c in s.categories)
                + f'<summary type="html">{escape(_html(s))}</summary>\n'
            )
            if s.image is not None:
                parts.append(
                    f'<link rel="enclosure" type="image/png" '
                    f'length="{len(_png(_image_key(s.image)))}" '
                    f"href={quoteattr(self._url(s.image))}/>\n"
                )
            parts.append("</entry>\n")
        parts.append("</feed>\n")
        return "".join(parts).encode("utf-8")

    def _json(self, state: _FeedState) -> bytes:
        o = state.outlet
        items: list[dict[str, Any]] = []
        for pub in reversed(state.items):
            s = pub.story
            item: dict[str, Any] = {
                "id": pub.guid,
                "url": self._url(pub.path),
                "title": pub.title,
                "content_html": _html(s),
                "summary": s.body,
                "date_published": _rfc3339(pub.published),
                "authors": [{"name": pub.author}],
                "tags": list(s.categories),
            }
            if s.image is not None:
                item["image"] = self._url(s.image)
            items.append(item)
        doc = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": o.title,
            "home_page_url": self._url("/"),
            "feed_url": self._url(o.path),
            "description": o.description,
            "language": "en",
            "items": items,
        }
        return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")

    def _article_page(self, pub: Publication) -> str:
        s = pub.story
        outlet = _BY_NAME[pub.feed].title
        og_image = figure = ""
        if s.image is not None:
            og_image = f'<meta property="og:image" content={quoteattr(self._url(s.image))}>'
            figure = f'<figure><img src={quoteattr(s.image)} alt=""></figure>'
        return (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(pub.title)} | {escape(outlet)}</title>"
            f'<meta name="description" content={quoteattr(s.body)}>'
            f'<meta property="og:title" content={quoteattr(pub.title)}>'
            f'<meta property="og:site_name" content={quoteattr(outlet)}>'
            f"{og_image}"
            f'<link rel="canonical" href={quoteattr(self._url(pub.path))}>'
            "</head><body>"
            f'<header><nav><a href="/">{escape(outlet)}</a> · Home · World · Security</nav>'
            "</header><main><article>"
            f"<h1>{escape(pub.title)}</h1>"
            f'<p class="byline">By {escape(pub.author)} · <time datetime='
            f"{quoteattr(_rfc3339(pub.published))}>"
            f"{escape(pub.published.strftime('%d %B %Y, %H:%M UTC'))}</time></p>"
            f"{figure}{_html(s)}</article></main>"
            "<footer><p>Fictional content generated for the Herald demo.</p></footer>"
            "</body></html>\n"
        )


def _relabel(story: Story, round_: int, suffix: str) -> Story:
    return dataclasses.replace(
        story,
        slug=f"{story.slug}-{round_}",
        title=f"{story.title} ({suffix})",
        alt_title=f"{story.alt_title} ({suffix})" if story.alt_title else None,
    )


def _html(story: Story) -> str:
    if story.html is not None:
        return story.html
    return f"<p>{escape(story.body)}</p>"


def _rfc3339(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _image_key(path: str) -> str:
    return path.rsplit("/", 1)[-1].removesuffix(".png")


def _not_modified(request: web.Request, etag: str, last_modified: datetime) -> bool:
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2); weak comparison.
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag in tags
    ims = request.headers.get("If-Modified-Since")
    if ims is None:
        return False
    try:
        since = parsedate_to_datetime(ims)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        return False
    return last_modified.replace(microsecond=0) <= since


@functools.lru_cache(maxsize=256)
def _png(key: str) -> bytes:
    """A 16×9 single-colour PNG whose colour is derived from ``key``."""
    r, g, b = hashlib.sha256(key.encode()).digest()[:3]
    width, height = 16, 9
    raw = (b"\x00" + bytes((r, g, b)) * width) * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
