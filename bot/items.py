"""Reading a changed document item by item: only the items the previous read did not see are
parsed.

Owns the item index (``bot.types.ItemIndex``: an 8-byte digest of each item's bytes, with the
short key of its entry) and the split of an XML document into header, items and trailer.

A feed that gains one story serves its thirty others again byte for byte, and parsing and
normalizing those again was most of the CPU of a busy round. Given the previous read's index,
:func:`read_items` parses only the items whose bytes it does not list, in a document made of the
header, those items and the trailer; the kept items' entries are the ones the index names. That
is exact only where an item reads the same whatever surrounds it, so it is used only when:

- the lxml fast path reads the document without any fault (``bot.parse.parse_exact_xml``:
  well-formed, no DOCTYPE, an honest charset), both the whole document when the index is made
  and the reduced one;
- the items split cleanly (no nesting, nothing but whitespace between items; comments, CDATA
  sections and processing instructions are skipped) and the parser finds exactly as many
  entries as there are items;
- the header's namespace, base and language declarations, the URL and the content type are
  those of the previous read;
- no new item shares its key with a kept one (the detector disambiguates such keys across the
  whole document, so it must see both).

Anything else is read in full, exactly as ``bot.normalize.read_feed`` reads it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import replace

from bot.normalize import (
    feed_metadata,
    known_key,
    normalize_entry,
    normalize_feed,
    without_repeats,
)
from bot.parse import parse_document, parse_exact_xml, parse_noting_exact
from bot.types import Entry, ItemIndex, ParsedFeed, RawEntry, Reading

__all__ = ["NO_ENTRY", "read_items", "split_items"]

NO_ENTRY = bytes(8)  # the key slot of an item that yields no entry

# Comments, CDATA sections and processing instructions are matched whole so that what they
# hold is never taken for markup; then RSS ``item`` / Atom ``entry`` start and end tags.
_TOKEN = re.compile(
    rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>"
    rb"|<(/?)((?:[A-Za-z_][\w.\-]*:)?(?:item|entry))(?=[\s/>])[^>]*?(/?)>",
    re.DOTALL,
)
# What in a header can change how an item reads: the XML declaration (encoding) and any start
# tag declaring a namespace, a base URL or a language for what it encloses.
_CONTEXT = re.compile(rb"<\?xml\b[^>]*>|<[A-Za-z_][^>]*\bxml(?:ns\b|:base\b|:lang\b)[^>]*>")


def split_items(body: bytes) -> list[tuple[int, int]] | None:
    """Byte spans of the document's items, in order; None when they do not split cleanly
    (none found, two element names, nesting, an unclosed item, or anything but whitespace
    between two items)."""
    spans: list[tuple[int, int]] = []
    name: bytes | None = None
    start = -1
    for m in _TOKEN.finditer(body):
        qname = m.group(2)
        if qname is None:
            continue
        if name is None:
            name = qname
        elif qname != name:
            return None
        if m.group(1):  # an end tag
            if start < 0:
                return None
            spans.append((start, m.end()))
            start = -1
            continue
        if start >= 0 or (spans and body[spans[-1][1] : m.start()].strip()):
            return None
        if m.group(3):  # <item/>
            spans.append((m.start(), m.end()))
        else:
            start = m.start()
    if start >= 0 or not spans:
        return None
    return spans


def read_items(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    max_entries: int = 500,
    known: bytes = b"",
    previous: ItemIndex | None = None,
) -> Reading:
    """Parse and normalize a document, only its new items when ``previous`` allows it.

    ``known``: as for ``bot.normalize.read_feed`` (short keys of stored entries, whose text is
    not extracted). The result carries the document's index when it can be read item by item
    next time. Pure and top-level so it can run in a process pool.
    """
    body = bytes(body)
    spans = split_items(body)
    if spans is not None:
        max_entries = max(0, max_entries)
        kept = spans[:max_entries]
        view = memoryview(body)
        digests = [hashlib.blake2b(view[a:b], digest_size=8).digest() for a, b in kept]
        context = _context(body[: spans[0][0]], url, content_type)
        if previous is not None and previous.context == context and previous.digests:
            reading = _partial(body, spans, digests, context, previous, url, content_type, known)
            if reading is not None:
                return reading
        parsed, exact = parse_noting_exact(
            body, url=url, content_type=content_type, max_entries=max(max_entries, len(spans))
        )
        if exact and len(parsed.entries) == len(spans):
            return _indexed(parsed, parsed.entries[:max_entries], digests, context, url, known)
        parsed = replace(parsed, entries=parsed.entries[:max_entries])
    else:
        parsed = parse_document(body, url=url, content_type=content_type, max_entries=max_entries)
    short = set(_chunks(known))
    entries = normalize_feed(parsed, feed_url=url, known=short)
    return Reading(feed_metadata(parsed, url), tuple(entries))


def _chunks(data: bytes) -> Iterator[bytes]:
    return (data[i : i + 8] for i in range(0, len(data), 8))


def _context(header: bytes, url: str, content_type: str | None) -> bytes:
    h = hashlib.blake2b(digest_size=8)
    for part in (
        url.encode("utf-8", "surrogatepass"),
        (content_type or "").encode("latin-1", "replace"),
    ):
        h.update(len(part).to_bytes(4, "big") + part)
    for m in _CONTEXT.finditer(header):
        h.update(m.group())
    return h.digest()


def _indexed(
    parsed: ParsedFeed,
    raws: tuple[RawEntry, ...],
    digests: list[bytes],
    context: bytes,
    url: str,
    known: bytes,
) -> Reading:
    short = set(_chunks(known))
    entries = [normalize_entry(raw, feed_url=url, known=short) for raw in raws]
    keys = b"".join(known_key(e.key) if e is not None else NO_ENTRY for e in entries)
    index = ItemIndex(b"".join(digests), keys, context)
    return Reading(feed_metadata(parsed, url), tuple(without_repeats(entries)), index)


def _partial(
    body: bytes,
    spans: list[tuple[int, int]],
    digests: list[bytes],
    context: bytes,
    previous: ItemIndex,
    url: str,
    content_type: str | None,
    known: bytes,
) -> Reading | None:
    before = dict(zip(_chunks(previous.digests), _chunks(previous.keys), strict=True))
    named = [k for k in before.values() if k != NO_ENTRY]
    if len(set(named)) != len(named):
        return None  # items sharing a key: the detector tells them apart by the whole document
    fresh = [i for i, d in enumerate(digests) if d not in before]
    # The header, the new items, the trailer (items past ``max_entries`` are left out, as a
    # full read would leave them out).
    doc = b"".join(
        [body[: spans[0][0]], *(body[slice(*spans[i])] for i in fresh), body[spans[-1][1] :]]
    )
    parsed = parse_exact_xml(doc, url=url, content_type=content_type, max_entries=len(fresh) + 1)
    if parsed is None or len(parsed.entries) != len(fresh):
        return None
    short = set(_chunks(known))
    new: list[Entry | None] = [
        normalize_entry(raw, feed_url=url, known=short) for raw in parsed.entries
    ]
    keys = [before.get(d, NO_ENTRY) for d in digests]
    present = {k for d, k in zip(digests, keys, strict=True) if d in before} - {NO_ENTRY}
    for i, entry in zip(fresh, new, strict=True):
        if entry is not None:
            keys[i] = known_key(entry.key)
            if keys[i] in present:
                return None
    return Reading(
        feed_metadata(parsed, url),
        tuple(without_repeats(new)),
        ItemIndex(b"".join(digests), b"".join(keys), context),
        partial=True,
        present=b"".join(sorted(present)),
    )
