"""The feed farm: one aiohttp server on 127.0.0.1 serving N distinct feeds built from real ones.

Feed ``k`` is template ``k % T`` of the real documents in ``../shared/data/feeds/`` with every
item link, guid and id prefixed by ``c<k>.`` so each copy carries its own stories (as N real
publishers would), while the bytes stay real-world. Each copy has a strong ETag and a
Last-Modified, answers conditional requests with 304, and can *churn*: gain synthetic items,
spliced in before the first real item, whose titles carry :data:`CHURN_WORD` so a topic matches
them. Bodies are assembled per request from shared templates, so memory does not grow with N.

Control endpoints (JSON): ``POST /_churn`` ``{"fraction", "seed", "min", "max"}`` or
``{"feeds": [k, ...], "count": n}`` → the items added; ``GET /_stats`` → request counters.
Run standalone with ``python -m bench.farm --feeds N`` (prints ``{"port": ...}`` on one line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import signal
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

from aiohttp import web

FEEDS_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "feeds"
CHURN_WORD = "zebrafinch"  # matches no real story in the corpus
_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z: Last-Modified of generation 0

# Where a per-copy prefix goes: right after the scheme of item links, at the start of guids/ids.
_MARKS = [
    re.compile(rb"<link>\s*(?:<!\[CDATA\[\s*)?https?://"),
    re.compile(rb"<link\b[^>]*?\bhref=[\"']https?://"),
    re.compile(rb"<guid\b[^>]*>\s*(?:<!\[CDATA\[\s*)?"),
    re.compile(rb"<id>\s*"),
    re.compile(rb"\brdf:about=[\"']https?://"),
]
_JSON_MARK = re.compile(rb"\"(?:id|url)\"\s*:\s*\"")
_FIRST_ITEM = {
    "rss": re.compile(rb"<item[\s>]"),
    "atom": re.compile(rb"<entry[\s>]"),
    "json": re.compile(rb"\"items\"\s*:\s*\[\s*"),
}
_ATOM_NS = "{http://www.w3.org/2005/Atom}"


@dataclass
class Template:
    """One real document, pre-split at the points where a copy's prefix is inserted."""

    name: str
    kind: str  # rss | atom | json
    content_type: str
    head: list[bytes]  # segments before the first item (joined with the prefix)
    tail: list[bytes]  # the first item onwards
    churnable: bool
    size: int


@dataclass
class FeedState:
    generation: int = 0
    extra: list[bytes] = field(default_factory=list)  # synthetic items, newest first


def _kind(name: str, body: bytes) -> str:
    head = body[:4096].lstrip()
    if name.endswith(".json") or head.startswith(b"{"):
        return "json"
    if re.search(rb"<feed[\s>]", body[:8192]):
        return "atom"
    return "rss"


def _split(body: bytes, marks: list[re.Pattern[bytes]]) -> list[bytes]:
    cuts = sorted({m.end() for pat in marks for m in pat.finditer(body)})
    out, last = [], 0
    for c in cuts:
        out.append(body[last:c])
        last = c
    out.append(body[last:])
    return out


def churn_item(kind: str, prefix: str, n: int, when: float) -> bytes:
    """A synthetic new story for a copy, in the copy's format."""
    title = f"Heraldbench {CHURN_WORD} story {prefix}{n}"
    link = f"https://{prefix}bench.example/story/{n}"
    guid = f"{prefix}urn:bench:{n}"
    if kind == "json":
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
        item = {
            "id": guid,
            "url": link,
            "title": title,
            "content_text": title,
            "date_published": iso,
        }
        return json.dumps(item).encode() + b","
    if kind == "atom":
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
        return (
            f'<entry><title>{title}</title><link href="{link}"/><id>{guid}</id>'
            f"<updated>{iso}</updated><summary>{title}.</summary></entry>\n"
        ).encode()
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when))
    return (
        f"<item><title>{title}</title><link>{link}</link>"
        f'<guid isPermaLink="false">{guid}</guid><description>{title}.</description>'
        f"<pubDate>{date}</pubDate></item>\n"
    ).encode()


def _is_churnable(kind: str, head: bytes, tail: bytes) -> bool:
    """Whether a spliced item lands where a parser will read it (checked with a strict parser)."""
    if not tail:
        return False
    item = churn_item(kind, "c0.", 0, _EPOCH)
    doc = head + item + tail
    if kind == "json":
        try:
            items = json.loads(doc).get("items") or []
        except ValueError:
            return False
        return bool(items) and CHURN_WORD in str(items[0].get("title"))
    try:
        root = ET.fromstring(doc)  # our own read-only corpus
    except ET.ParseError:
        return False
    return any(
        el.tag in ("title", f"{_ATOM_NS}title", "{http://purl.org/rss/1.0/}title")
        and CHURN_WORD in (el.text or "")
        for el in root.iter()
    )


def load_templates(feeds_dir: Path = FEEDS_DIR) -> list[Template]:
    out: list[Template] = []
    for path in sorted(p for p in feeds_dir.rglob("*") if p.is_file() and p.suffix != ".md"):
        body = path.read_bytes()
        kind = _kind(path.name, body)
        m = _FIRST_ITEM[kind].search(body)
        at = (m.end() if kind == "json" else m.start()) if m else len(body)
        head, tail = body[:at], body[at:]
        marks = [_JSON_MARK] if kind == "json" else _MARKS
        out.append(
            Template(
                name=str(path.relative_to(feeds_dir)),
                kind=kind,
                content_type="application/feed+json" if kind == "json" else "application/xml",
                head=_split(head, marks),
                tail=_split(tail, marks),
                churnable=m is not None and _is_churnable(kind, head, tail),
                size=len(body),
            )
        )
    return out


class FeedFarm:
    """The server. ``async with FeedFarm(n) as farm: farm.url(k)``."""

    def __init__(self, n: int, templates: list[Template] | None = None) -> None:
        self.templates = templates if templates is not None else load_templates()
        if not self.templates:
            raise RuntimeError(f"no feed documents under {FEEDS_DIR}")
        self.n = n
        self.state: dict[int, FeedState] = {}
        self.requests = 0
        self.not_modified = 0
        self.bytes_sent = 0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def url(self, k: int) -> str:
        return f"{self.base_url}/f/{k}/{self.template(k).name.replace('/', '_')}"

    def template(self, k: int) -> Template:
        return self.templates[k % len(self.templates)]

    def churnable(self) -> list[int]:
        return [k for k in range(self.n) if self.template(k).churnable]

    def body(self, k: int) -> bytes:
        t = self.template(k)
        prefix = f"c{k}.".encode()
        st = self.state.get(k)
        extra = b"".join(st.extra) if st else b""
        return prefix.join(t.head) + extra + prefix.join(t.tail)

    def _validators(self, k: int) -> tuple[str, str, float]:
        gen = self.state[k].generation if k in self.state else 0
        stamp = _EPOCH + 60 * gen
        etag = f'"t{k % len(self.templates)}-c{k}-g{gen}"'
        return etag, format_datetime(_utc(stamp), usegmt=True), stamp

    def churn(self, feeds: list[int], counts: list[int]) -> list[dict[str, Any]]:
        added: list[dict[str, Any]] = []
        now = time.time()
        for k, count in zip(feeds, counts, strict=True):
            t = self.template(k)
            st = self.state.setdefault(k, FeedState())
            for _ in range(count):
                n = len(st.extra) + 1
                st.extra.insert(0, churn_item(t.kind, f"c{k}.", n, now))
                added.append({"feed": k, "n": n})
            st.generation += 1
        return added

    # -- http ------------------------------------------------------------------------------

    async def _feed(self, request: web.Request) -> web.Response:
        self.requests += 1
        k = int(request.match_info["k"])
        if not 0 <= k < self.n:
            raise web.HTTPNotFound()
        etag, last_modified, stamp = self._validators(k)
        headers = {"ETag": etag, "Last-Modified": last_modified, "Cache-Control": "max-age=60"}
        inm = request.headers.get("If-None-Match")
        ims = request.headers.get("If-Modified-Since")
        fresh = False
        if inm is not None:
            fresh = etag in [v.strip() for v in inm.split(",")]
        elif ims is not None:
            try:
                fresh = parsedate_to_datetime(ims).timestamp() >= stamp
            except (TypeError, ValueError):
                fresh = False
        if fresh:
            self.not_modified += 1
            return web.Response(status=304, headers=headers)
        body = self.body(k)
        self.bytes_sent += len(body)
        headers["Content-Type"] = self.template(k).content_type
        return web.Response(body=body, headers=headers)

    async def _churn(self, request: web.Request) -> web.Response:
        spec = await request.json()
        if "feeds" in spec:
            feeds = [int(k) for k in spec["feeds"]]
            counts = [int(spec.get("count", 1))] * len(feeds)
        else:
            rng = random.Random(spec.get("seed", 0))
            pool = self.churnable()
            feeds = sorted(rng.sample(pool, round(len(pool) * float(spec["fraction"]))))
            counts = [rng.randint(int(spec.get("min", 1)), int(spec.get("max", 3))) for _ in feeds]
        return web.json_response({"added": self.churn(feeds, counts)})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": self.requests,
                "not_modified": self.not_modified,
                "bytes_sent": self.bytes_sent,
                "churnable": len(self.churnable()),
                "templates": len(self.templates),
            }
        )

    async def start(self, port: int = 0) -> FeedFarm:
        app = web.Application()
        app.router.add_get("/f/{k:\\d+}/{name}", self._feed)
        app.router.add_post("/_churn", self._churn)
        app.router.add_get("/_stats", self._stats)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FeedFarm:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _utc(stamp: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(stamp, UTC)


async def _serve(n: int) -> None:
    farm = await FeedFarm(n).start()
    print(json.dumps({"base_url": farm.base_url, "churnable": len(farm.churnable())}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The parent closing our stdin also means stop: a crashed bench leaves no server behind.
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    await stop.wait()
    await farm.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--feeds", type=int, default=2000)
    args = p.parse_args()
    asyncio.run(_serve(args.feeds))


if __name__ == "__main__":
    main()
