"""Frozen value types that cross Herald's seams (parser → core → adapters)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One item as a parser read it: text fields may still hold markup; nothing is trusted yet.

    ``published``/``updated`` are timezone-aware UTC when present. ``link`` may be relative.
    """

    guid: str | None = None
    link: str | None = None
    title: str | None = None
    summary: str | None = None
    content: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    author: str | None = None
    categories: tuple[str, ...] = ()
    image: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A whole document as a parser read it.

    ``format`` names what was recognised (``rss20``, ``rss10``, ``rss090``, ``atom10``,
    ``atom03``, ``json1``, ``json11``, ...). ``bozo`` is true when the document was malformed but
    entries could still be recovered; ``bozo_message`` says what was wrong, in one line.
    """

    format: str
    title: str | None = None
    link: str | None = None
    entries: tuple[RawEntry, ...] = ()
    bozo: bool = False
    bozo_message: str | None = None


@dataclass(frozen=True, slots=True)
class ItemIndex:
    """A document's items by content, in document order: what lets the next read of a changed
    document parse only its new items (``bot.items``).

    ``digests`` holds 8 bytes per item (a hash of the item's bytes); ``keys`` 8 bytes per item:
    the short key (``bot.normalize.known_key``) of the item's entry, zeros for an item that
    yields no entry; ``context`` a hash of what outside the items can change how they read
    (URL, content type, the header's namespace, base and language declarations).
    """

    digests: bytes = b""
    keys: bytes = b""
    context: bytes = b""


@dataclass(frozen=True, slots=True)
class Reading:
    """A parsed and normalized document, as ``bot.items.read_items`` returns it.

    ``partial``: ``entries`` holds only the items that were not in the previous read, and
    ``present`` the short keys (8 bytes each) of the entries of the items that were.
    ``index`` is None for a document that cannot be read item by item (it is read in full).
    """

    feed: ParsedFeed
    entries: tuple[Entry, ...]
    index: ItemIndex | None = None
    partial: bool = False
    present: bytes = b""


@dataclass(frozen=True, slots=True)
class Entry:
    """A normalized, trusted-shape item: plain text, absolute http(s) link, UTC time.

    ``key`` is the stable identity (a fixed-length hash of guid, else normalized link, else
    title+date). ``link_key`` is the normalized link (tracking parameters, fragment and host case
    removed) and ``title_key`` the folded title; the detector uses them to recognise the same story
    under a changed guid.
    """

    key: str
    title: str
    link: str | None = None
    link_key: str | None = None
    title_key: str = ""
    guid: str | None = None
    summary: str = ""
    published: datetime | None = None
    updated: datetime | None = None
    author: str | None = None
    categories: tuple[str, ...] = ()
    image: str | None = None
    # True when ``summary`` was left empty because the key was known to be stored already
    # (see ``bot.normalize.read_feed``): such an entry must never be recorded as new.
    text_skipped: bool = False


@dataclass(frozen=True, slots=True)
class AlertItem:
    """One story inside an alert (an alert folds several when a burst overflows)."""

    story_key: str
    feed: str
    title: str
    link: str | None
    summary: str
    published: datetime | None
    image: str | None = None
    categories: tuple[str, ...] = ()


class AlertKind(StrEnum):
    STORY = "story"
    DIGEST = "digest"  # "N more stories on <topic>": overflow folded into one message


@dataclass(frozen=True, slots=True)
class Alert:
    """What an adapter posts to one channel.

    ``delivery_id`` is unique and stable across retries: adapters derive idempotency keys
    (Discord nonce, ...) from it. For a ``STORY`` alert ``items`` holds exactly one story; for a
    ``DIGEST`` it holds the folded stories. Text fields are plain text and not yet escaped for any
    platform: escaping is the adapter's job, because each platform's markup differs.
    """

    delivery_id: int
    platform: str
    workspace: str | None
    channel: str
    topics: tuple[str, ...]
    items: tuple[AlertItem, ...]
    kind: AlertKind = AlertKind.STORY
    # Sends of this delivery started before this one (a crash or lost answer may have posted
    # it): adapters without an idempotency key look the message up before posting again.
    attempt: int = 0
    first_attempt_at: datetime | None = None

    @property
    def item(self) -> AlertItem:
        return self.items[0]


@dataclass(frozen=True, slots=True)
class Notice:
    """An admin notice (subscription paused, feed disabled/recovered) for one workspace."""

    platform: str
    workspace: str | None
    channel: str
    text: str


@dataclass(frozen=True, slots=True)
class Caller:
    """Who issued a command, as the platform reports it."""

    platform: str
    user_id: str
    channel: str
    workspace: str | None = None
    is_platform_admin: bool = False
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed ``/news`` invocation: ``name`` like ``subscribe`` or ``feed add``; ``args`` raw."""

    caller: Caller
    name: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to a command: plain text lines (unescaped) plus an ``ok`` flag."""

    text: str
    ok: bool = True
    lines: tuple[str, ...] = field(default_factory=tuple)
