"""New-item detection: decides which entries of a fetched document are stories never announced.

Owns the identity rules. Seen keys are kept in storage with time-based retention (refreshed
while an item stays in its feed), never inferred from "whatever the current document holds", so
reordered, republished or re-dated items stay quiet, and so do items that come back after a
restart. A story whose guid changes is recognised by its normalized link *and* title, or by its
title alone within a few days -- but only when the old item left the document: a feed that keeps
yesterday's "Morning briefing" next to today's has two stories, not one renamed one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from bot.normalize import known_key
from bot.storage import EntryRef, Storage
from bot.types import Entry


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewStory:
    """An entry to announce, with the story it belongs to (shared across syndicating feeds)."""

    entry: Entry
    story_key: str


@dataclass(frozen=True, slots=True)
class Detection:
    """What a document holds that storage does not know yet. Nothing is written by ``detect``:
    the caller commits ``new_rows`` and ``seen_keys`` together with the deliveries, in one
    transaction, so a crash can never mark a story seen without also queueing its alerts."""

    new: tuple[NewStory, ...]
    seen_keys: tuple[str, ...]
    new_rows: tuple[dict[str, Any], ...]
    renamed: int  # same story under a changed guid
    first_poll: bool
    # An entry to record came without its text (``Entry.text_skipped``: its key was believed
    # stored). The caller must read the document again in full and detect again.
    needs_text: bool = False

    @property
    def stored(self) -> int:
        return len(self.new_rows)


def disambiguate(entries: Sequence[Entry]) -> list[Entry]:
    """Make keys unique within one document without merging distinct stories.

    Some feeds give every item the same guid or point every item at their home page; entries that
    share a key but not a title are distinct stories, so their keys get the title mixed in.
    Exact repeats (same key and title) are dropped.
    """
    by_key: dict[str, set[str]] = {}
    for e in entries:
        by_key.setdefault(e.key, set()).add(e.title_key)
    out: list[Entry] = []
    seen: set[str] = set()
    for e in entries:
        key = e.key if len(by_key[e.key]) == 1 else sha(f"{e.key}|t:{e.title_key}")
        if key in seen:
            continue
        seen.add(key)
        out.append(e if key == e.key else replace(e, key=key))
    return out


def _link_hash(e: Entry, shared_links: set[str]) -> str | None:
    # A link several items of one document share (a home page) identifies nothing.
    if not e.link_key or e.link_key in shared_links:
        return None
    return sha(e.link_key)


def _is_article_link(link_key: str) -> bool:
    path = urlsplit(link_key).path
    return path not in ("", "/")


def entry_row(
    e: Entry, story_key: str, link_hash: str | None, title_hash: str, now: datetime
) -> dict[str, Any]:
    return {
        "key": e.key,
        "story_key": story_key,
        "link_key_hash": link_hash,
        "title_key_hash": title_hash,
        "title": e.title[:300],
        "link": e.link,
        "summary": e.summary,
        "published": e.published,
        "author": e.author,
        "categories": json.dumps(list(e.categories)),
        "image": e.image,
        "first_seen_at": now,
        "last_seen_at": now,
    }


def _newest_first(stories: list[NewStory]) -> list[NewStory]:
    oldest = datetime.min.replace(tzinfo=UTC)
    indexed = list(enumerate(stories))
    # Feeds list newest first; a date, when present, is the better witness.
    indexed.sort(key=lambda p: (p[1].entry.published or oldest, -p[0]), reverse=True)
    return [s for _, s in indexed]


@dataclass(frozen=True, slots=True)
class DetectRequest:
    """One parsed document to check against storage (the input of :func:`detect_many`)."""

    feed_id: int
    entries: Sequence[Entry]
    now: datetime
    first_poll: bool
    backfill: int = 0
    same_title_days: float = 3.0
    cross_feed_days: float = 3.0
    # Short keys (``bot.normalize.known_key``) of entries also in the document but not in
    # ``entries``: kept items of a document read item by item (``bot.items``), known stored.
    present: frozenset[bytes] = frozenset()


@dataclass(frozen=True, slots=True)
class _Doc:
    req: DetectRequest
    entries: list[Entry]
    link_hashes: dict[str, str | None]  # entry key -> hash of its link (None: identifies nothing)
    title_hashes: dict[str, str]  # entry key -> hash of its title key

    @property
    def title_since(self) -> datetime:
        return self.req.now - timedelta(days=self.req.same_title_days)

    @property
    def link_since(self) -> datetime:
        return self.req.now - timedelta(days=self.req.cross_feed_days)


def _prepare(req: DetectRequest) -> _Doc:
    doc = disambiguate(req.entries)
    link_counts: dict[str, int] = {}
    for e in doc:
        if e.link_key:
            link_counts[e.link_key] = link_counts.get(e.link_key, 0) + 1
    shared_links = {k for k, n in link_counts.items() if n > 1}
    return _Doc(
        req,
        doc,
        {e.key: _link_hash(e, shared_links) for e in doc},
        {e.key: sha(e.title_key) for e in doc},
    )


def _relevant(d: _Doc, stored: Sequence[EntryRef]) -> list[EntryRef]:
    """The stored entries that may be the same story as one of ``d``'s entries.

    Same feed: exact key, same link hash, or same title hash seen since the title window.
    Other feeds: same link hash seen since the cross-feed window (syndication).
    """
    feed_id = d.req.feed_id
    keys = set(d.link_hashes)
    links = {h for h in d.link_hashes.values() if h}
    titles = {d.title_hashes[e.key] for e in d.entries if e.title_key}
    title_since, link_since = d.title_since, d.link_since
    out: list[EntryRef] = []
    for s in stored:
        if s.feed_id == feed_id:
            if (
                s.key in keys
                or (s.link_key_hash is not None and s.link_key_hash in links)
                or (s.title_key_hash in titles and s.first_seen_at >= title_since)
            ):
                out.append(s)
        elif s.link_key_hash in links and s.first_seen_at >= link_since:
            out.append(s)
    return out


async def detect_many(storage: Storage, requests: Sequence[DetectRequest]) -> list[Detection]:
    """Decide, for each document, which entries are new and which stories to announce, with
    one query for them all (the poller's group commit).

    On the first poll of a feed everything is recorded as seen and at most ``backfill`` of the
    newest entries are announced. An entry with a future or missing date is still new.
    """
    docs = [_prepare(r) for r in requests]
    # A feed that never succeeded has no stored entries (entries and the feed's success are
    # committed together), so its first poll needs no lookup; stories it announces are matched
    # across feeds at commit time (``claimed_elsewhere``).
    looked = [d for d in docs if not d.req.first_poll]
    stored = (
        await storage.entries_for_detect_many(
            [d.req.feed_id for d in looked],
            keys=sorted({k for d in looked for k in d.link_hashes}),
            link_hashes=sorted({h for d in looked for h in d.link_hashes.values() if h}),
            title_hashes=sorted(
                {d.title_hashes[e.key] for d in looked for e in d.entries if e.title_key}
            ),
            title_since=min(d.title_since for d in looked),
            link_since=min(d.link_since for d in looked),
        )
        if looked
        else []
    )
    return [_decide(d, _relevant(d, stored) if not d.req.first_poll else []) for d in docs]


def _decide(d: _Doc, stored: Sequence[EntryRef]) -> Detection:
    req, feed_id, now = d.req, d.req.feed_id, d.req.now
    doc_keys = set(d.link_hashes)
    own = [s for s in stored if s.feed_id == feed_id]
    known_keys = {s.key for s in own}
    # Candidates for "same story, new guid": stored items of this feed that left the document.
    departed = [s for s in own if s.key not in doc_keys and known_key(s.key) not in req.present]
    by_link_title: dict[tuple[str, str], EntryRef] = {}
    by_title: dict[str, EntryRef] = {}
    for s in departed:
        if s.link_key_hash:
            by_link_title.setdefault((s.link_key_hash, s.title_key_hash), s)
        if req.same_title_days > 0 and s.first_seen_at >= d.title_since:
            by_title.setdefault(s.title_key_hash, s)
    elsewhere: dict[str, EntryRef] = {}
    for s in stored:
        if s.feed_id != feed_id and s.link_key_hash:
            elsewhere.setdefault(s.link_key_hash, s)

    new_rows: list[dict[str, Any]] = []
    seen_keys: list[str] = []
    fresh: list[NewStory] = []
    renamed = 0
    needs_text = False
    for e in d.entries:
        if e.key in known_keys:
            seen_keys.append(e.key)
            continue
        needs_text = needs_text or e.text_skipped
        lh = d.link_hashes[e.key]
        th = d.title_hashes[e.key]
        alias = None
        if e.title_key:
            alias = (by_link_title.get((lh, th)) if lh else None) or by_title.get(th)
        if alias is not None:
            renamed += 1
            new_rows.append(entry_row(e, alias.story_key, lh, th, now))
            continue
        other = elsewhere.get(lh) if lh else None
        if other is not None and not (e.link_key and _is_article_link(e.link_key)):
            other = None
        story_key = other.story_key if other is not None else sha(f"{feed_id}:{e.key}")
        new_rows.append(entry_row(e, story_key, lh, th, now))
        fresh.append(NewStory(e, story_key))

    announce = _newest_first(fresh)[: req.backfill] if req.first_poll else fresh
    return Detection(
        new=tuple(announce),
        seen_keys=tuple(seen_keys),
        new_rows=tuple(new_rows),
        renamed=renamed,
        first_poll=req.first_poll,
        needs_text=needs_text,
    )


def claim_links(
    feed_id: int,
    rows: Sequence[dict[str, Any]],
    stored: Iterable[EntryRef | dict[str, Any]],
) -> dict[str, str]:
    """story_key remaps for ``rows`` whose article link another feed's entry already carries.

    ``stored`` holds other feeds' entries (stored ones, or row dicts about to be committed in
    the same transaction); the first one with a row's link hash gives the story its key.
    """
    wanted = {r["link_key_hash"]: r["story_key"] for r in rows if r.get("link_key_hash")}
    remap: dict[str, str] = {}
    if not wanted:
        return remap
    for s in stored:
        other, link_hash, story_key, link = (
            (s.feed_id, s.link_key_hash, s.story_key, s.link)
            if isinstance(s, EntryRef)
            else (s["feed_id"], s["link_key_hash"], s["story_key"], s["link"])
        )
        if other != feed_id and link_hash in wanted:
            mine = wanted[link_hash]
            if mine != story_key and _is_article_link(link or ""):
                remap.setdefault(mine, story_key)
    return remap


async def claimed_elsewhere(
    storage: Storage, rows: Sequence[dict[str, Any]], *, now: datetime, days: float = 3.0
) -> list[EntryRef]:
    """Stored entries (of any feed) recorded since ``days`` ago with the link of one of ``rows``.

    Detection runs before summarizing (which may be slow); by commit time a second feed carrying
    the same article link may have committed it, and the story must stay one story: the caller
    remaps with :func:`claim_links`.
    """
    links = sorted({r["link_key_hash"] for r in rows if r.get("link_key_hash")})
    if not links:
        return []
    return await storage.entries_for_detect_many(
        [],
        keys=[],
        link_hashes=links,
        title_hashes=[],
        title_since=now,
        link_since=now - timedelta(days=days),
    )
