"""Builders that write valid RSS 2.0, Atom 1.0 and JSON Feed 1.1 documents from simple items.

Text is escaped by the XML/JSON serializers, never by hand, so titles full of ``<&"'>`` come out
well-formed. Naive datetimes are taken as UTC.

Mapping of :class:`Item` fields, so parser tests know where to look:

* RSS: ``guid`` → ``<guid isPermaLink="false">``, ``summary`` → ``<description>``,
  ``author`` → ``<dc:creator>``, ``image`` → ``<enclosure type="image/jpeg">``.
* Atom: ``id`` is ``guid``, else ``link``, else ``urn:herald-test:<n>``; ``summary`` →
  ``<summary type="html">``, ``image`` → ``<link rel="enclosure">``; ``updated`` =
  ``published`` (or a fixed date when absent, since Atom requires it).
* JSON Feed: ``id`` as in Atom; ``summary`` → both ``summary`` and ``content_html``;
  ``categories`` → ``tags``; ``author`` → ``authors[0].name``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

DC = "http://purl.org/dc/elements/1.1/"
ATOM = "http://www.w3.org/2005/Atom"
ET.register_namespace("dc", DC)
ET.register_namespace("atom", ATOM)

# Atom insists on <updated>; a fixed stand-in keeps documents deterministic.
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Item:
    title: str
    link: str | None = None
    guid: str | None = None
    summary: str = ""
    published: datetime | None = None
    categories: Sequence[str] = ()
    author: str | None = None
    image: str | None = None


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _rfc3339(when: datetime) -> str:
    return _utc(when).isoformat().replace("+00:00", "Z")


def _identity(item: Item, index: int) -> str:
    return item.guid or item.link or f"urn:herald-test:{index}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _xml(root: ET.Element) -> bytes:
    data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    assert isinstance(data, bytes)
    return data


def rss(
    items: Sequence[Item], *, title: str = "Test feed", link: str = "https://example.org/"
) -> bytes:
    """An RSS 2.0 document."""
    root = ET.Element("rss", {"version": "2.0"})
    channel = _sub(root, "channel")
    _sub(channel, "title", title)
    _sub(channel, "link", link)
    _sub(channel, "description", f"{title} (generated for tests)")
    for item in items:
        el = _sub(channel, "item")
        _sub(el, "title", item.title)
        if item.link is not None:
            _sub(el, "link", item.link)
        if item.guid is not None:
            _sub(el, "guid", item.guid, isPermaLink="false")
        if item.summary:
            _sub(el, "description", item.summary)
        if item.published is not None:
            _sub(el, "pubDate", format_datetime(_utc(item.published), usegmt=True))
        for category in item.categories:
            _sub(el, "category", category)
        if item.author is not None:
            _sub(el, f"{{{DC}}}creator", item.author)
        if item.image is not None:
            _sub(el, "enclosure", url=item.image, type="image/jpeg", length="0")
    return _xml(root)


def atom(
    items: Sequence[Item], *, title: str = "Test feed", link: str = "https://example.org/"
) -> bytes:
    """An Atom 1.0 document."""
    root = ET.Element(f"{{{ATOM}}}feed")
    _sub(root, f"{{{ATOM}}}title", title)
    _sub(root, f"{{{ATOM}}}link", href=link, rel="alternate")
    _sub(root, f"{{{ATOM}}}id", link)
    dates = [_utc(i.published) for i in items if i.published is not None]
    _sub(root, f"{{{ATOM}}}updated", _rfc3339(max(dates, default=_EPOCH)))
    for index, item in enumerate(items):
        entry = _sub(root, f"{{{ATOM}}}entry")
        _sub(entry, f"{{{ATOM}}}title", item.title)
        _sub(entry, f"{{{ATOM}}}id", _identity(item, index))
        if item.link is not None:
            _sub(entry, f"{{{ATOM}}}link", href=item.link, rel="alternate")
        when = item.published or _EPOCH
        if item.published is not None:
            _sub(entry, f"{{{ATOM}}}published", _rfc3339(when))
        _sub(entry, f"{{{ATOM}}}updated", _rfc3339(when))
        if item.summary:
            _sub(entry, f"{{{ATOM}}}summary", item.summary, type="html")
        for category in item.categories:
            _sub(entry, f"{{{ATOM}}}category", term=category)
        if item.author is not None:
            author = _sub(entry, f"{{{ATOM}}}author")
            _sub(author, f"{{{ATOM}}}name", item.author)
        if item.image is not None:
            _sub(entry, f"{{{ATOM}}}link", href=item.image, rel="enclosure", type="image/jpeg")
    return _xml(root)


def json_feed(
    items: Sequence[Item], *, title: str = "Test feed", link: str = "https://example.org/"
) -> bytes:
    """A JSON Feed 1.1 document."""
    out: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        entry: dict[str, Any] = {
            "id": _identity(item, index),
            "title": item.title,
            "content_html": item.summary,
        }
        if item.link is not None:
            entry["url"] = item.link
        if item.summary:
            entry["summary"] = item.summary
        if item.published is not None:
            entry["date_published"] = _rfc3339(item.published)
        if item.categories:
            entry["tags"] = list(item.categories)
        if item.author is not None:
            entry["authors"] = [{"name": item.author}]
        if item.image is not None:
            entry["image"] = item.image
        out.append(entry)
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": link,
        "items": out,
    }
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


# --- hostile documents and probes (generated, never committed) ------------------------------------


def entity_bomb(
    *,
    entity_size: int,
    references: int,
    encoding: str = "utf-8",
    junk: str = "",
    one_line: bool = False,
) -> bytes:
    """RSS whose one internal entity (no ``&`` in it, so feedparser calls it "safe") is referenced
    ``references`` times: the quadratic-blowup attack. ``junk`` goes before everything."""
    subset = f'<!ENTITY big "{"A" * entity_size}">'
    doctype = f"<!DOCTYPE rss [{subset}]>" if one_line else f"<!DOCTYPE rss [\n{subset}\n]>"
    text = (
        f'{junk}<?xml version="1.0" encoding="{encoding}"?>\n{doctype}\n'
        '<rss version="2.0"><channel><title>t</title><item><title>x</title><description>'
        + "&big;" * references
        + "</description></item></channel></rss>"
    )
    return text.encode(encoding)


def feedparser_only(body: bytes) -> int:
    """Parse with bare feedparser, bypassing Herald's checks: how big did the summary get?

    Runs inside a sandbox worker to show what the memory cap and timeout contain on their own.
    """
    import io

    import feedparser

    result = feedparser.parse(
        io.BytesIO(body),
        response_headers={"content-type": "application/xml"},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    return sum(len(e.get("summary", "")) for e in result.entries)


def allocate(size: int) -> int:
    """Allocate ``size`` bytes at once (a worker under a memory cap raises MemoryError)."""
    return len(bytearray(size))


def die() -> None:
    """Kill the calling process the way the kernel's OOM killer would."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def spin() -> None:
    """Loop forever (a parser stuck on a pathological document)."""
    while True:
        pass


def linger_on_exit(seconds: float) -> int:
    """Keep this (worker) process alive ``seconds`` after it is told to stop; returns its pid.

    A non-daemon thread is waited for before a multiprocessing child exits.
    """
    threading.Thread(target=time.sleep, args=(seconds,)).start()
    return os.getpid()


def recurse(depth: int = 0) -> int:
    return recurse(depth + 1)


class Opaque:
    """A type a parser worker is not allowed to send back."""


def opaque() -> Opaque:
    return Opaque()
