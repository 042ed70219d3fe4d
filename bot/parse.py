"""Feed parsing: raw response bytes → ``ParsedFeed`` (RSS 0.9x/1.0/2.0, Atom, JSON Feed 1.0/1.1).

This module owns format detection, the feedparser call, the JSON Feed reader and the decision
"malformed but recoverable" (``bozo``) versus "not a feed at all" (``ParseError``). It does not
clean text or validate links: that is ``bot.normalize``'s job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import html
import io
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser
from feedparser.encodings import convert_to_utf8
from feedparser.exceptions import NonXMLContentType

from bot.errors import ParseError
from bot.fastparse import parse_fast
from bot.types import ParsedFeed, RawEntry

__all__ = ["parse_document", "parse_off_loop"]

_WHITESPACE = b" \t\r\n\f\v"
_UTF8_BOM = b"\xef\xbb\xbf"
_JSON_TYPES = ("application/feed+json", "application/json")
_HTML_SNIFF = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)
_HTMLISH = re.compile(
    r"</[a-zA-Z][\w:-]*\s*>"  # an end tag
    r"|<(?:br|hr|img|p)\b[^<>]*>"  # a common tag that is often left open
    r"|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);"  # an entity
)
# A real-world breakage: every element carries an ``rss:`` prefix that is never declared, so
# feedparser sees no RSS elements at all. Dropping the prefix recovers the items.
_UNDECLARED_RSS_PREFIX = re.compile(rb"<(/?)rss:")
# feedparser's own split of a document into prolog and body (``replace_doctype``): entity
# declarations in the prolog are the ones it re-declares for its parsers.
_FIRST_ELEMENT = re.compile(rb"<\w")
_ENTITY_DECLARATION = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
# The same declaration in the wide encodings, found without decoding: feedparser may fail to
# decode such a document at all (junk before a UTF-16 declaration), and it must still be refused.
_WIDE_ENTITY = tuple(
    "<!ENTITY".encode(enc) for enc in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)
# An XML declaration readable one byte per character cannot be telling the truth when it names
# UTF-16: in UTF-16 the declaration itself would take two bytes per character. feedparser tries
# the declared encoding first, and decoding as UTF-16 fails or "succeeds" (into garbage that is
# no feed) only by whether the byte count is odd or even, so such a feed would fail or parse by
# the parity of its length, changing as its publisher adds stories.
_SINGLE_BYTE_UTF16_DECLARATION = re.compile(
    rb"\A(?:\xef\xbb\xbf)?[ \t\r\n]*<\?xml[^>]{0,200}?\bencoding[ \t\r\n]*=[ \t\r\n]*[\"']"
    rb"(?:utf[-_]?16(?:[-_]?[lb]e)?|u16|ucs[-_]?2|unicode)[\"']",
    re.IGNORECASE,
)
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def parse_document(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    max_entries: int = 500,
    fast: bool = True,
) -> ParsedFeed:
    """Parse one fetched document. Pure and top-level so it can run in a process pool.

    Raises ``ParseError`` (one human line) when the bytes are not a feed at all. A feed whose
    header is valid but which has no items is a valid, empty ``ParsedFeed``. ``fast=False``
    skips the lxml fast path (``bot.fastparse``) and always uses feedparser.
    """
    parsed, _ = parse_noting_exact(
        body, url=url, content_type=content_type, max_entries=max_entries, fast=fast
    )
    return parsed


def parse_noting_exact(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    max_entries: int = 500,
    fast: bool = True,
) -> tuple[ParsedFeed, bool]:
    """``parse_document``, and whether the lxml fast path read the document without a fault
    (well-formed, no DOCTYPE, an honest charset, nothing repaired: no bozo).

    ``bot.items`` relies on it: in such a document, an item reads the same whatever other
    items surround it.
    """
    parsed = _parse(body, url=url, content_type=content_type, max_entries=max_entries, fast=fast)
    assert parsed is not None
    return parsed[0], parsed[1] and not parsed[0].bozo


def parse_exact_xml(
    body: bytes, *, url: str, content_type: str | None = None, max_entries: int = 500
) -> ParsedFeed | None:
    """What ``parse_noting_exact`` returns for a document it calls exact, or None (at the cost
    of the fast path's attempt only: feedparser is never run)."""
    try:
        parsed = _parse(
            body, url=url, content_type=content_type, max_entries=max_entries, only_fast=True
        )
    except ParseError:
        return None
    return parsed[0] if parsed is not None and parsed[1] and not parsed[0].bozo else None


def _parse(
    body: bytes,
    *,
    url: str,
    content_type: str | None,
    max_entries: int,
    fast: bool = True,
    only_fast: bool = False,
) -> tuple[ParsedFeed, bool] | None:
    body = bytes(body)
    head = body.lstrip(_WHITESPACE)
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM) :].lstrip(_WHITESPACE)
    if not head:
        raise ParseError("the document is empty" if not body else "the document is only whitespace")
    max_entries = max(0, max_entries)
    if _looks_like_json(head, content_type):
        return None if only_fast else (_parse_json_feed(body, max_entries=max_entries), False)
    return _parse_xml_feed(
        body,
        head,
        url=url,
        content_type=content_type,
        max_entries=max_entries,
        fast=fast,
        only_fast=only_fast,
    )


async def parse_off_loop(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    max_entries: int = 500,
    executor: concurrent.futures.Executor | None = None,
) -> ParsedFeed:
    """``parse_document`` on an executor (``None`` → the loop's default thread pool).

    Parsing a large feed takes up to hundreds of milliseconds of CPU; on the loop it would stall
    every other poll and delivery.
    """
    loop = asyncio.get_running_loop()
    call = functools.partial(
        parse_document, body, url=url, content_type=content_type, max_entries=max_entries
    )
    return await loop.run_in_executor(executor, call)


# --- format detection -------------------------------------------------------------------------


def _media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def _looks_like_json(head: bytes, content_type: str | None) -> bool:
    first = head[:1]
    if first in (b"{", b"["):
        return True
    # Servers mislabel feeds often; a body that opens like markup is read as markup.
    return _media_type(content_type) in _JSON_TYPES and first != b"<"


def _one_line(text: str, limit: int = 300) -> str:
    # Messages quote parser exceptions, which can carry bytes of the document.
    line = " ".join(_CONTROL_CHARS.sub(" ", text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- RSS / Atom via feedparser ----------------------------------------------------------------


def _reject_entity_declarations(
    body: bytes, headers: dict[str, str]
) -> tuple[bytes, dict[str, Any]]:
    """Refuse a document whose prolog declares entities.

    feedparser blocks billion-laughs and external entities, but when one large internal entity
    is referenced many times the strict parser gives up and its loose parser expands the entity
    itself, without limit (a 40 KB feed builds a 100 MB summary). Real feeds have no use for
    entity declarations. The check runs on the text as feedparser itself decodes it (BOM, HTTP
    charset, XML declaration, UTF-16/32, EBCDIC), so neither a UTF-16 copy nor junk before the
    DOCTYPE hides a declaration; it covers the whole prolog, comments included, because
    feedparser's prolog rewrite finds declarations inside comments too.

    Returns the document as feedparser decodes it (UTF-8) and what the decoding recorded.
    """
    info: dict[str, Any] = {}
    decoded = convert_to_utf8(dict(headers), body, info)
    first = _FIRST_ELEMENT.search(decoded)
    prolog = decoded[: first.start()] if first else decoded
    if _ENTITY_DECLARATION.search(prolog) or any(w in body for w in _WIDE_ENTITY):
        raise ParseError(
            "this document declares XML entities, which feeds never need and which can be "
            "used to exhaust memory; it was not parsed"
        )
    return decoded, info


def _headers(url: str, content_type: str | None) -> dict[str, str]:
    # Without a content type feedparser flags every document as bozo ("no Content-type
    # specified"); application/xml without charset means "trust the XML declaration" (RFC 7303).
    return {"content-location": url, "content-type": content_type or "application/xml"}


def _feedparser(body: bytes, *, url: str, content_type: str | None, checked: bool = False) -> Any:
    headers = _headers(url, content_type)
    # Here rather than once per document: the rss: prefix repair below re-parses altered bytes.
    if not checked:
        _reject_entity_declarations(body, headers)
    # Always a BytesIO: given str/bytes feedparser treats the argument as a path or URL and would
    # read local files or make requests. HTML sanitizing and relative-URI rewriting inside content
    # are disabled because normalize reduces all markup to plain text anyway; they more than double
    # the parse time.
    return feedparser.parse(
        io.BytesIO(body),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )


def _parse_xml_feed(
    body: bytes,
    head: bytes,
    *,
    url: str,
    content_type: str | None,
    max_entries: int,
    fast: bool = True,
    only_fast: bool = False,
) -> tuple[ParsedFeed, bool] | None:
    """The document and whether the fast path read it (``only_fast``: None where it did not)."""
    if len(body) % 2 == 0 and _SINGLE_BYTE_UTF16_DECLARATION.match(body):
        # One byte of trailing whitespace (insignificant after the root element) makes the
        # UTF-16 attempt fail whatever the length, so the feed is read the same way every time:
        # as feedparser reads the odd-length copy (the next candidate encoding, and a bozo
        # "declared as utf-16, but parsed as ..." note).
        body += b"\n"
    # Entity declarations are refused before either parser sees the document. Well-formed
    # RSS/Atom that bot.fastparse can read exactly as feedparser would takes the lxml path.
    decoded, info = _reject_entity_declarations(body, _headers(url, content_type))
    result = parse_fast(decoded, info, url=url) if fast else None
    exact = result is not None
    if result is None:
        if only_fast:
            return None
        result = _feedparser(body, url=url, content_type=content_type, checked=True)
    version = _str(_get(result, "version")) or ""
    entries = list(_get(result, "entries") or [])
    repaired = False
    if not entries and b"<rss:item" in body and b"xmlns:rss" not in body:
        if only_fast:
            return None
        retry = _feedparser(
            _UNDECLARED_RSS_PREFIX.sub(rb"<\1", body), url=url, content_type=content_type
        )
        if _get(retry, "entries"):
            result, entries, repaired, exact = retry, list(retry["entries"]), True, False
            version = _str(_get(retry, "version")) or version

    if not version and not entries:
        if _HTML_SNIFF.search(head[:4096]):
            raise ParseError("this looks like an HTML page, not a feed")
        reason = _get(result, "bozo_exception")
        detail = f" ({_one_line(str(reason), 120)})" if reason else ""
        raise ParseError(f"this is not an RSS, Atom or JSON feed{detail}")

    bozo, message = _bozo(result)
    if repaired:
        bozo = True
        message = "undeclared rss: namespace prefix on every element (prefix dropped)"
    feed = _get(result, "feed") or {}
    parsed = ParsedFeed(
        format=version or "unknown",
        title=_text_field(feed, "title"),
        link=_str(_get(feed, "link")),
        entries=tuple(_raw_from_feedparser(e) for e in entries[:max_entries]),
        bozo=bozo,
        bozo_message=message,
    )
    return parsed, exact


def _bozo(result: Mapping[str, Any]) -> tuple[bool, str | None]:
    if not _get(result, "bozo"):
        return False, None
    exc = _get(result, "bozo_exception")
    if isinstance(exc, NonXMLContentType):
        # Only the server's label was wrong (feeds served as text/html or text/plain are common);
        # the document itself parsed cleanly, so this is not worth flagging.
        return False, None
    if exc is None:
        return True, "malformed document"
    text = str(exc) or type(exc).__name__
    return True, _one_line(f"{type(exc).__name__}: {text}")


def _text_field(entry: Mapping[str, Any], name: str) -> str | None:
    """A feedparser text field as HTML: plain-text values are escaped so ``normalize`` can treat
    every field as markup without eating a literal ``<`` (e.g. "x <y and z>")."""
    value = _str(_get(entry, name))
    if value is None:
        return None
    detail = _get(entry, f"{name}_detail")
    ctype = _str(_get(detail, "type")) if isinstance(detail, Mapping) else None
    return html.escape(value, quote=False) if ctype == "text/plain" else value


def _raw_from_feedparser(entry: Mapping[str, Any]) -> RawEntry:
    contents = []
    for item in _dicts(_get(entry, "content")):
        value = _str(_get(item, "value"))
        if value:
            ctype = _str(_get(item, "type"))
            contents.append(html.escape(value, quote=False) if ctype == "text/plain" else value)
    return RawEntry(
        guid=_str(_get(entry, "id")),
        link=_str(_get(entry, "link")),
        title=_text_field(entry, "title"),
        summary=_text_field(entry, "summary"),
        content=max(contents, key=len) if contents else None,
        published=_struct_to_datetime(_get(entry, "published_parsed")),
        updated=_struct_to_datetime(_get(entry, "updated_parsed")),
        author=_feedparser_author(entry),
        categories=tuple(
            term for tag in _dicts(_get(entry, "tags")) if (term := _str(_get(tag, "term")))
        ),
        image=_feedparser_image(entry),
    )


def _feedparser_author(entry: Mapping[str, Any]) -> str | None:
    # ``author`` is often "email (Name)"; the parsed name keeps addresses out of alerts.
    detail = _get(entry, "author_detail")
    if isinstance(detail, Mapping) and (name := _str(_get(detail, "name"))):
        return name
    return _str(_get(entry, "author"))


def _feedparser_image(entry: Mapping[str, Any]) -> str | None:
    for thumb in _dicts(_get(entry, "media_thumbnail")):
        if url := _str(_get(thumb, "url")):
            return url
    for media in _dicts(_get(entry, "media_content")):
        medium = (_str(_get(media, "medium")) or "").lower()
        mtype = (_str(_get(media, "type")) or "").lower()
        if (medium == "image" or mtype.startswith("image/")) and (url := _str(_get(media, "url"))):
            return url
    for link in _dicts(_get(entry, "links")):  # enclosures are links with rel="enclosure"
        mtype = (_str(_get(link, "type")) or "").lower()
        if mtype.startswith("image/") and (
            url := _str(_get(link, "href")) or _str(_get(link, "url"))
        ):
            return url
    image = _get(entry, "image")
    if isinstance(image, Mapping):
        return _str(_get(image, "href"))
    return None


def _struct_to_datetime(value: Any) -> datetime | None:
    """feedparser's ``*_parsed`` (a UTC struct_time) → aware UTC datetime; None if out of range."""
    if value is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(f) for f in tuple(value)[:6])
        # struct_time allows leap seconds (60, 61); datetime does not.
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


# --- JSON Feed ----------------------------------------------------------------------------------


def _parse_json_feed(body: bytes, *, max_entries: int) -> ParsedFeed:
    try:
        doc = json.loads(body)
    except RecursionError:
        raise ParseError("this JSON document is nested too deeply to be a feed") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"this is not valid JSON ({_one_line(str(exc), 120)})") from None
    if not isinstance(doc, dict):
        raise ParseError("this JSON document is not a JSON Feed (no top-level object)")
    version = _str(_get(doc, "version")) or ""
    items = _get(doc, "items")
    if "jsonfeed.org" not in version and not isinstance(items, list):
        raise ParseError("this JSON document is not a JSON Feed (no version and no items)")
    fmt = "json11" if "/version/1.1" in version else "json1"
    entries: list[RawEntry] = []
    for item in items if isinstance(items, list) else []:
        if len(entries) >= max_entries:
            break
        if isinstance(item, dict):
            entries.append(_raw_from_json(item))
    bozo, message = False, None
    if not isinstance(items, list):
        bozo, message = True, "JSON Feed without an items list"
    return ParsedFeed(
        format=fmt,
        title=_plain(_get(doc, "title")),
        link=_str(_get(doc, "home_page_url")),
        entries=tuple(entries),
        bozo=bozo,
        bozo_message=message,
    )


def _plain(value: Any) -> str | None:
    """A JSON Feed plain-text field, escaped so ``normalize`` can treat every field as HTML."""
    text = _str(value)
    return html.escape(text, quote=False) if text is not None else None


def _maybe_html(value: Any) -> str | None:
    """A field the spec calls plain text but publishers often fill with HTML (title, summary).

    Like feedparser's guess for RSS: end tags, common void tags or entities mean HTML.
    """
    text = _str(value)
    if text is None or _HTMLISH.search(text):
        return text
    return html.escape(text, quote=False)


def _raw_from_json(item: Mapping[str, Any]) -> RawEntry:
    guid = _get(item, "id")
    # The spec says id is a string, but numeric ids are common in the wild.
    if isinstance(guid, int | float) and not isinstance(guid, bool):
        guid = str(guid)
    content = _unescape_double(_str(_get(item, "content_html"))) or _plain(
        _get(item, "content_text")
    )
    return RawEntry(
        guid=_str(guid),
        link=_str(_get(item, "url")) or _str(_get(item, "external_url")),
        title=_maybe_html(_get(item, "title")),
        summary=_maybe_html(_get(item, "summary")),
        content=content,
        published=_rfc3339(_get(item, "date_published")),
        updated=_rfc3339(_get(item, "date_modified")),
        author=_json_author(item),
        categories=tuple(tag for tag in _iter(_get(item, "tags")) if isinstance(tag, str) and tag),
        image=_str(_get(item, "image")) or _str(_get(item, "banner_image")),
    )


def _unescape_double(value: str | None) -> str | None:
    # Some generators escape content_html twice ("&lt;p&gt;..."): markup with no "<" at all but
    # escaped tags is one level too deep.
    if value and "<" not in value and "&lt;" in value:
        return html.unescape(value)
    return value


def _json_author(item: Mapping[str, Any]) -> str | None:
    for first in _dicts(_get(item, "authors")):
        if name := _str(_get(first, "name")):
            return name
        break
    legacy = _get(item, "author")  # JSON Feed 1.0
    return _str(_get(legacy, "name")) if isinstance(legacy, Mapping) else None


def _rfc3339(value: Any) -> datetime | None:
    text = _str(value)
    if not text:
        return None
    text = text.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # RFC 3339 requires an offset; a bare local time is most often meant as UTC.
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


# --- small helpers ------------------------------------------------------------------------------


def _get(mapping: Mapping[str, Any], key: str) -> Any:
    """The value stored under ``key`` exactly. ``FeedParserDict.get`` maps aliases and, for
    ``updated*``, silently returns ``published*`` with a DeprecationWarning."""
    return dict.get(mapping, key) if isinstance(mapping, dict) else mapping.get(key)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _iter(value: Any) -> Iterable[Any]:
    return value if isinstance(value, list | tuple) else ()


def _dicts(value: Any) -> Iterable[Mapping[str, Any]]:
    return (v for v in _iter(value) if isinstance(v, Mapping))
