"""Normalization: untrusted ``RawEntry`` → trusted ``Entry`` (plain text, absolute http(s) links,
UTC times, stable identity keys).

This module owns every rule that decides what text may reach a channel (markup stripped, invisible
and control characters removed, lengths capped) and how two items are recognised as the same
story (``key``, ``link_key``, ``title_key``). It never raises on hostile input.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import html
import ipaddress
import re
import unicodedata
from collections.abc import Container, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlparse, urlsplit, urlunparse

from bot.types import Entry, ParsedFeed, RawEntry

__all__ = [
    "TRACKING_PARAMS",
    "absolute_http_url",
    "clean_text",
    "entry_key",
    "feed_metadata",
    "fold_title",
    "html_to_text",
    "known_key",
    "normalize_entry",
    "normalize_feed",
    "normalize_link",
    "read_feed",
    "read_feed_off_loop",
    "without_repeats",
]

TITLE_LIMIT = 300
SUMMARY_LIMIT = 10_000
AUTHOR_LIMIT = 200
CATEGORY_LIMIT = 100
MAX_CATEGORIES = 20
GUID_STORE_LIMIT = 1024
MAX_URL_LENGTH = 4096

# Query parameters that identify a campaign or a click, never the document. ``utm_*`` is matched as
# a prefix; the rest exactly (case-insensitive).
TRACKING_PARAMS = frozenset(
    {
        "fbclid",  # Facebook
        "gclid",  # Google Ads
        "gclsrc",
        "dclid",  # Google Display
        "gbraid",
        "wbraid",
        "msclkid",  # Microsoft Ads
        "yclid",  # Yandex
        "twclid",  # Twitter/X
        "ttclid",  # TikTok
        "igshid",  # Instagram
        "mc_cid",  # Mailchimp
        "mc_eid",
        "_ga",  # Google Analytics cross-domain
        "_gl",
        "ocid",  # Microsoft/MSN
        "cmpid",
        "cmp",  # The Guardian (CMP=share_btn_tw)
        "ref_src",  # Twitter embeds
        "ref_url",
        "smid",  # New York Times share id
        "smtyp",
        "partner",
        "xtor",  # AT Internet (Le Monde, France TV, ...)
        "at_medium",  # BBC
        "at_campaign",
        "at_custom1",
        "at_custom2",
        "at_custom3",
        "at_custom4",
        "ncid",  # Yahoo
        "sr_share",
        "wt.mc_id",  # Webtrends
        "wt_mc",  # heise
        "mkt_tok",  # Marketo
        "spm",
        "s_cid",
        "__twitter_impression",
    }
)

_SKIP_CONTENT_TAGS = frozenset({"script", "style", "noscript", "template"})
# Elements that do not break words: between them text is glued as written ("foo<b>bar</b>").
# Every other tag (p, div, br, li, td, img, ...) is a word boundary.
_INLINE_TAGS = frozenset(
    {
        "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em",
        "font", "i", "ins", "kbd", "mark", "nobr", "q", "s", "samp", "small", "span", "strike",
        "strong", "sub", "sup", "time", "tt", "u", "var", "wbr",
    }
)  # fmt: skip


# Characters removed outright. C0/C1 controls that Python counts as whitespace (tab, newline, CR,
# VT, FF, U+001C-U+001F, NEL) are absent on purpose: ``str.split`` turns them into word breaks.
_INVISIBLE = (
    "\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f"
    "\u00ad"  # soft hyphen: would split words for matching
    "\u180e"
    "\u200b-\u200f"  # zero-width space/joiners, LRM/RLM
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2060-\u2064\u2066-\u2069"  # word joiner, invisible operators, bidi isolates
    "\u034f\u061c"  # combining grapheme joiner, Arabic letter mark
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers: render as nothing, used for blank names
    "\ufeff\ufffe\uffff"
    "\U000e0000-\U000e007f"  # tag characters: invisible ASCII ("ASCII smuggling")
    "\U000e0100-\U000e01ef"  # variation selectors supplement: invisible payload bytes
    "\ud800-\udfff"  # lone surrogates (from JSON) cannot be encoded or stored
)
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]+")
# Full-width and small-form look-alikes of the characters that open mentions and tokens on chat
# platforms (@everyone, <@id>, <@&role>, <#channel>, <!here>, <!subteam^id>, <url|text>). A
# platform or client that applies NFKC would turn them into the real thing *after* the adapter
# escaped the text, so they are folded to ASCII here and the adapter's escaping then sees them.
_MENTION_LOOKALIKES = str.maketrans(
    {"\uff20": "@", "\ufe6b": "@", "\uff1c": "<", "\ufe64": "<", "\uff1e": ">", "\ufe65": ">"}
)
_MENTION_LOOKALIKE_RE = re.compile("[" + "".join(map(chr, _MENTION_LOOKALIKES)) + "]")
# The characters that complete a token after "<" or "<@"; folded only there, because full-width
# "！" or "＃" are ordinary punctuation in CJK text.
_TOKEN_LOOKALIKE_RE = re.compile("(<@?)([\uff01\ufe57\ufe15\uff06\ufe60\uff03\ufe5f\uff3e\uff5c])")
# For single tokens (URLs, guids): every control character goes, whitespace ones included.
_UNSAFE_RE = re.compile(f"[{_INVISIBLE}\t\n\x0b\x0c\r\x1c-\x1f\x85\u2028\u2029]+")
_FEED_CHUNK = 8192
# An absolute http(s) URL that urljoin returns unchanged whatever the base, because urlparse and
# urlunparse return it unchanged: lower-case scheme, a host not starting with "/", no params,
# fragment, empty query, whitespace, controls or brackets. Joining such a URL is skipped.
PLAIN_ABSOLUTE_URL = re.compile(
    r"https?://[^/?#;\s\[\]\\\x00-\x1f\x7f]+(?:/[^?#;\s\x00-\x1f\x7f]*)?(?:\?[^#;\s\x00-\x1f\x7f]+)?"
)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self._skip: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_CONTENT_TAGS:
            self._skip.append(tag)
        elif tag not in _INLINE_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _INLINE_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag in self._skip:
                while self._skip and self._skip.pop() != tag:
                    pass
        elif tag not in _INLINE_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)
            self.size += len(data)

    def unknown_decl(self, data: str) -> None:
        if data.startswith("CDATA[") and not self._skip:
            self.parts.append(data[6:])
            self.size += len(data) - 6


_TAG_RE = re.compile(r"<[^>]*>?")
# Plain markup, token by token: text, a start tag with well-quoted attributes, an end tag, a
# comment with no "--" inside. For markup made only of these, html.parser reports the same
# events (tag names, self-closing or not, text runs unescaped whole), found here by one regular
# expression instead of its pure-Python scanner.
_PLAIN_TOKEN = re.compile(
    r"(?P<text>[^<]+)"
    r"|<(?P<start>[a-zA-Z][a-zA-Z0-9]*)"
    r"""(?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*"""
    r"\s*(?P<close>/?)>"
    r"|</(?P<end>[a-zA-Z][a-zA-Z0-9]*)\s*>"
    r"|<!--(?:[^-]|-(?!-))*-->"
)
_RAW_TEXT_TAGS = frozenset({"script", "style"})  # html.parser reads their content as raw text
_WAITS_ON_AMP = re.compile(r"[\s;]")  # html.parser's test for an entity cut by a chunk's end


def html_to_text(value: str | None, *, limit: int = SUMMARY_LIMIT) -> str:
    """Markup → one line of plain text, at most ``limit`` characters. Never raises."""
    if not value:
        return ""
    if "<" not in value and "&" not in value:
        # No tag and no entity: the parser would hand the text back unchanged, at a cost that
        # dominates normalization of well-formed feeds.
        return _finish(value, limit)
    text = _plain_text(value, limit)
    return text if text is not None else _parsed_text(value, limit)


def _plain_text(value: str, limit: int) -> str | None:
    """``_parsed_text``'s answer for plain markup (see ``_PLAIN_TOKEN``), else None.

    ``_parsed_text`` feeds html.parser in chunks and stops after the chunk that brings enough
    text; where it stood then is reproduced: whole tokens before the chunk's end, and of a text
    run across it the part html.parser hands over (all of it, or up to an ``&`` it waits on).
    """
    extractor = _TextExtractor()
    n = len(value)
    boundary = _FEED_CHUNK
    at = 0
    for token in _PLAIN_TOKEN.finditer(value):
        if token.start() != at:
            return None  # a stray "<", a declaration, CDATA...: html.parser decides
        at = token.end()
        text, start, end = token.group("text", "start", "end")
        done = token.start()  # how much of a text token is already handed over
        while boundary < n and at > boundary:
            if text is not None:
                upto = boundary
                amp = value.rfind("&", max(done, boundary - 34), boundary)
                if amp >= 0 and not _WAITS_ON_AMP.search(value, amp, boundary):
                    upto = amp
                if upto > done:
                    extractor.handle_data(_unescaped(value[done:upto]))
                    done = upto
            if extractor.size > limit + 2048:
                return _finish("".join(extractor.parts), limit, cut=True)
            boundary += _FEED_CHUNK
        if text is not None:
            if done < at:
                extractor.handle_data(_unescaped(value[done:at]))
        elif start is not None:
            tag = start.lower()
            if token.group("close"):
                extractor.handle_startendtag(tag, [])
            elif tag in _RAW_TEXT_TAGS:
                return None
            else:
                extractor.handle_starttag(tag, [])
        elif end is not None:
            extractor.handle_endtag(end.lower())
    if at != n:
        return None
    return _finish("".join(extractor.parts), limit)


def _unescaped(text: str) -> str:
    return html.unescape(text) if "&" in text else text


def _parsed_text(value: str, limit: int) -> str:
    extractor = _TextExtractor()
    cut = False
    try:
        # Fed in chunks so a megabyte of article HTML stops being parsed once there is enough text
        # (html.parser is pure Python and dominates normalization time).
        for start in range(0, len(value), _FEED_CHUNK):
            extractor.feed(value[start : start + _FEED_CHUNK])
            if extractor.size > limit + 2048 and start + _FEED_CHUNK < len(value):
                cut = True
                break
        else:
            extractor.close()
        text = "".join(extractor.parts)
    except Exception:  # html.parser can still trip on pathological markup; degrade, don't fail.
        text = html.unescape(_TAG_RE.sub(" ", value[: limit * 4 + 4096]))
        cut = len(value) > limit * 4 + 4096
    return _finish(text, limit, cut=cut)


def clean_text(value: str | None, *, limit: int) -> str:
    """A non-HTML field → one clean line: entities decoded, invisible/control characters removed,
    whitespace collapsed, NFC, at most ``limit`` characters."""
    if not value:
        return ""
    return _finish(html.unescape(value), limit)


def _finish(text: str, limit: int, *, cut: bool = False) -> str:
    text = unicodedata.normalize("NFC", _INVISIBLE_RE.sub("", text))
    # str.translate walks every character in Python; most texts hold no look-alike at all.
    if _MENTION_LOOKALIKE_RE.search(text):
        text = text.translate(_MENTION_LOOKALIKES)
    if "<" in text:
        text = _TOKEN_LOOKALIKE_RE.sub(_fold_token, text)
    return _truncate(" ".join(text.split()), limit, cut=cut)


def _fold_token(match: re.Match[str]) -> str:
    return match.group(1) + unicodedata.normalize("NFKC", match.group(2))


def _truncate(text: str, limit: int, *, cut: bool = False) -> str:
    """Cap on a word boundary; "…" marks text that was cut (here or while extracting)."""
    if len(text) <= limit and not cut:
        return text
    if len(text) < limit:
        return text + "…"
    if limit <= 1:
        return "…"[:limit]
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip() + "…"


# --- links -------------------------------------------------------------------------------------

_PERCENT_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_RE = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")


def _normalize_percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _host_key(hostname: str) -> str | None:
    """Lower-case ASCII (IDNA) host, or None when it is not a plausible host name."""
    host = hostname.rstrip(".")
    if ":" in host:  # IPv6 literal (urlsplit removed the brackets)
        try:
            return f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            return None
    if host.isascii():
        # What the idna codec does with an ASCII name, without its per-call overhead (it is
        # most of the cost of resolving a link): only label lengths are checked.
        labels = host.split(".")
        if any(not 0 < len(label) < 64 for label in labels[:-1]) or len(labels[-1]) >= 64:
            return None
        ascii_host = host.lower()
    else:
        try:
            ascii_host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None
    return ascii_host if _HOST_RE.fullmatch(ascii_host) else None


def normalize_link(url: str) -> str | None:
    """The canonical form used to compare links, or None unless ``url`` is absolute http(s).

    Scheme folded to ``https`` (feeds switch schemes), host lower-cased and IDNA-encoded, default
    port, userinfo and fragment dropped, percent-escapes normalized (RFC 3986 §6.2.2), tracking
    parameters (``utm_*`` and ``TRACKING_PARAMS``) dropped, remaining query parameters sorted,
    trailing ``/`` removed from a non-root path. Idempotent.
    """
    try:
        return _normalize_link(url)
    except ValueError:  # bad port, bad IPv6, unencodable characters (UnicodeError)
        return None


def _normalize_link(url: str) -> str | None:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    port = parts.port
    host = _host_key(parts.hostname)
    if host is None:
        return None
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _PERCENT_RE.sub(_normalize_percent, quote(parts.path, safe=_PATH_SAFE)) or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    params = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    query = urlencode(sorted(params))
    return f"https://{netloc}{path}" + (f"?{query}" if query else "")


def _is_tracking(name: str) -> bool:
    lowered = name.strip().lower()
    return lowered.startswith("utm_") or lowered in TRACKING_PARAMS


def absolute_http_url(url: str | None, base: str) -> str | None:
    """Resolve ``url`` against ``base``; only absolute http(s) URLs with a host survive.

    ``javascript:``, ``data:``, ``mailto:``, ``ftp:`` and anything unparseable give None.
    """
    if not url:
        return None
    candidate = _UNSAFE_RE.sub("", url.strip())
    if not candidate:
        return None
    try:
        if PLAIN_ABSOLUTE_URL.fullmatch(candidate):
            joined = candidate
        else:
            parsed = urlparse(candidate)
            # urljoin re-serializes an absolute URL (dropping an empty ";" or "?") only when its
            # scheme is the base's: do it for every absolute URL, or the base's scheme would
            # decide the link (and the key) of "http://x/;" in an https feed.
            absolute = parsed.scheme and parsed.netloc
            joined = urlunparse(parsed) if absolute or not base else urljoin(base, candidate)
        parts = urlsplit(joined)
        if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
            return None
        parts.port  # noqa: B018  -- raises ValueError for an invalid port
    except ValueError:
        return None
    if _host_key(parts.hostname) is None:
        return None
    netloc = parts.netloc
    if "@" in netloc:
        # "https://bbc.co.uk@evil.example/" shows one host and opens another, and a base URL
        # with credentials would leak them into every relative link: drop the userinfo.
        netloc = netloc.rpartition("@")[2]
    result = parts._replace(scheme=parts.scheme.lower(), netloc=netloc).geturl()
    result = result.replace(" ", "%20")
    return result if len(result) <= MAX_URL_LENGTH else None


# --- identity ------------------------------------------------------------------------------------

_NON_ALNUM_RE = re.compile(r"[\W_]+")


def fold_title(title: str) -> str:
    """Fold a title for fuzzy identity: accents dropped, case folded, punctuation → one space."""
    # casefold before decomposing: casefold can itself produce combining marks (İ → i̇).
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_ALNUM_RE.sub(" ", stripped).strip()


def entry_key(
    guid: str | None, link_key: str | None, title_key: str, published: datetime | None
) -> str:
    """The stable identity: sha256 hex of the guid, else the link key, else title + date."""
    if guid:
        material = "g:" + guid
    elif link_key:
        material = "l:" + link_key
    else:
        material = "t:" + title_key + "|" + (published.isoformat() if published else "")
    # surrogatepass: a guid from JSON may carry a lone surrogate; it must hash, not crash.
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


# --- entries -------------------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _categories(values: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        if not isinstance(value, str):
            continue
        category = clean_text(value, limit=CATEGORY_LIMIT)
        folded = category.casefold()
        if category and folded not in seen:
            seen.add(folded)
            out.append(category)
            if len(out) == MAX_CATEGORIES:
                break
    return tuple(out)


def known_key(key: str) -> bytes:
    """The short form of an entry key in a ``known`` set (8 bytes: a collision only costs time)."""
    return bytes.fromhex(key[:16])


def normalize_entry(raw: RawEntry, *, feed_url: str, known: Container[bytes] = ()) -> Entry | None:
    """One raw item → a trusted ``Entry``; None when there is no title, no link and no text.

    ``published`` falls back to ``updated`` (many Atom feeds only carry ``updated``). When the
    entry's key is in ``known`` (short keys, :func:`known_key`) only its identity is read (key,
    title, link, dates), not its text, author, categories or image: the detector reads nothing
    else of a stored entry, and extracting article HTML is most of the cost of normalization.
    Such an entry says so (``text_skipped``).
    """
    guid = raw.guid.strip() if isinstance(raw.guid, str) else None
    guid = guid or None
    link = absolute_http_url(raw.link, feed_url)
    link_key = normalize_link(link) if link else None
    title = html_to_text(raw.title, limit=TITLE_LIMIT)
    title_key = fold_title(title)
    published = _utc(raw.published) or _utc(raw.updated)
    key = entry_key(guid, link_key, title_key, published)
    skip = bool(known) and bool(title or link) and known_key(key) in known
    text = "" if skip else _entry_text(raw)
    if not title and not link and not text:
        return None
    stored_guid = _UNSAFE_RE.sub("", guid)[:GUID_STORE_LIMIT] if guid else None
    return Entry(
        key=key,
        title=title,
        link=link,
        link_key=link_key,
        title_key=title_key,
        guid=stored_guid or None,
        summary=text,
        published=published,
        updated=_utc(raw.updated),
        author=None if skip else clean_text(raw.author, limit=AUTHOR_LIMIT) or None,
        categories=() if skip else _categories(raw.categories),
        image=None if skip else absolute_http_url(raw.image, feed_url),
        text_skipped=skip,
    )


def _entry_text(raw: RawEntry) -> str:
    content = html_to_text(raw.content, limit=SUMMARY_LIMIT)
    # feedparser copies Atom content into summary when there is none: parse such HTML once.
    summary = content if raw.summary == raw.content else html_to_text(raw.summary)
    return content if len(content) >= len(summary) else summary


def normalize_feed(
    parsed: ParsedFeed, *, feed_url: str, known: Container[bytes] = ()
) -> list[Entry]:
    """Every showable entry of a document, in document order.

    Exact repeats (same key *and* title) keep the first. Entries that share a key but not a title
    are all kept: some feeds reuse one guid or one home-page link for different stories, and the
    detector tells those apart.
    """
    return without_repeats(
        normalize_entry(raw, feed_url=feed_url, known=known) for raw in parsed.entries
    )


def without_repeats(entries: Iterable[Entry | None]) -> list[Entry]:
    """The entries that are not exact repeats (same key and title) of an earlier one."""
    seen: set[tuple[str, str]] = set()
    out: list[Entry] = []
    for entry in entries:
        if entry is not None and (entry.key, entry.title_key) not in seen:
            seen.add((entry.key, entry.title_key))
            out.append(entry)
    return out


def feed_metadata(parsed: ParsedFeed, url: str) -> ParsedFeed:
    """The document's own fields made safe to show, without its raw entries.

    The feed's title and link reach chat (as an alert's source) just like item text; dropping
    the raw entries keeps what crosses a process boundary small.
    """
    return replace(
        parsed,
        entries=(),
        title=html_to_text(parsed.title, limit=TITLE_LIMIT) or None,
        link=absolute_http_url(parsed.link, url),
        bozo_message=clean_text(parsed.bozo_message, limit=300) or None,
    )


def read_feed(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    max_entries: int = 500,
    known: bytes = b"",
) -> tuple[ParsedFeed, list[Entry]]:
    """Parse and normalize in one call: the unit of CPU work run off the event loop.

    The returned ``ParsedFeed`` carries the document's metadata only (no raw entries), so little
    crosses a process boundary when this runs in a process pool. ``known`` is the short keys
    (:func:`known_key`, concatenated) of entries already stored for this feed: their text is
    skipped, which makes a changed document of 30 items cost little more than its new ones.
    """
    from bot.parse import parse_document

    parsed = parse_document(body, url=url, content_type=content_type, max_entries=max_entries)
    short = {known[i : i + 8] for i in range(0, len(known), 8)}
    return feed_metadata(parsed, url), normalize_feed(parsed, feed_url=url, known=short)


async def read_feed_off_loop(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    max_entries: int = 500,
    executor: concurrent.futures.Executor | None = None,
    known: bytes = b"",
) -> tuple[ParsedFeed, list[Entry]]:
    """:func:`read_feed` on an executor (``None`` → the loop's default thread pool)."""
    call = functools.partial(
        read_feed,
        body,
        url=url,
        content_type=content_type,
        max_entries=max_entries,
        known=known,
    )
    return await asyncio.get_running_loop().run_in_executor(executor, call)
