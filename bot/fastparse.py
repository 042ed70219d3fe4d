"""Fast path for well-formed RSS 2.0 / RSS 1.0 / Atom 1.0 documents: lxml instead of feedparser.

This module owns one decision and one job. The decision: is this document plain enough to be
read without feedparser? The job: read it into the same feedparser-shaped result (``version``,
``feed``, ``entries``) that ``bot.parse`` then maps to a ``ParsedFeed``, so both paths share that
mapping. The reader is a port of the parts of feedparser's element handlers whose effects reach a
``RawEntry`` (titles, links, guids, summaries, content, dates, authors, tags, media, enclosures),
including feedparser's quirks: relative guid resolution, description-after-summary becoming
content, first-title-wins depth rules, mojibake and cp1252 repair, "looks like HTML" guessing.

A document that is not well-formed because of a few common defects (a bare ``&``, an HTML
entity, a control character, a second XML declaration, a script after the root) is repaired the
way feedparser's loose parser reads past them, and flagged bozo with the error feedparser's own
strict pass reports (expat, run without handlers). Anything outside that subset makes
:func:`parse_fast` return None and the caller uses feedparser: other not-well-formed documents
(or any lxml reports an error about), a DOCTYPE, ``xml:base``, conflicting namespace prefixes,
elements feedparser handles but this port does not (GeoRSS with children included), markup
nested inside text constructs, base64/xhtml/unknown content types, dates it cannot read exactly
as feedparser would, any encoding doubt. Safety: the caller refuses entity declarations before this
runs, and the lxml parser never resolves entities, loads a DTD or touches the network.
"""

from __future__ import annotations

import contextlib
import html.entities
import re
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from xml.parsers import expat
from xml.sax import SAXParseException

from feedparser.datetimes import _parse_date as _feedparser_date
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.sanitizer import _HTMLSanitizer
from feedparser.urls import make_safe_absolute_uri
from lxml import etree

from bot.normalize import PLAIN_ABSOLUTE_URL

__all__ = ["parse_fast"]

# feedparser's own tables, so the port follows the installed feedparser rather than a copy.
_KNOWN_NS: dict[str, str] = {k.lower(): v for k, v in _FeedParserMixin.namespaces.items()}
_FP_HANDLERS = frozenset(
    name.split("_", 2)[2].lower() if name.startswith("_start_") else name[5:].lower()
    for name in dir(_FeedParserMixin)
    if name.startswith(("_start_", "_end_"))
)
_ACCEPTABLE_HTML = frozenset(_HTMLSanitizer.acceptable_elements)
_CP1252 = {k: v for k, v in _cp1252.items()}
_C1 = re.compile("[\x80-\x9f]")
_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})
_RELATIVE = frozenset(_FeedParserMixin.can_be_relative_uri)

_RSS10 = "http://purl.org/rss/1.0/"
_RSS090 = "http://my.netscape.com/rdf/simple/0.9/"
_ATOM10 = "http://www.w3.org/2005/atom"
_ATOM_TAG = "{http://www.w3.org/2005/Atom}feed"

# Keys an unknown element would be stored under that the port (or bot.parse) reads, directly or
# through FeedParserDict's key aliases: such an element changes what feedparser reports.
_RESERVED_KEYS = frozenset(
    {
        "id", "guid", "link", "links", "title", "title_detail", "summary", "summary_detail",
        "description", "description_detail", "content", "published_parsed", "issued_parsed",
        "updated_parsed", "modified_parsed", "date_parsed", "author", "author_detail", "authors",
        "tags", "category", "enclosures", "license", "media_thumbnail", "media_content", "image",
        "textinput", "source", "href", "url", "contributors", "publisher", "publisher_detail",
        "guidislink", "subtitle",
    }
)  # fmt: skip
# Handlers whose effects never reach a RawEntry or the feed's title/link, for leaf elements.
_HARMLESS = frozenset(
    {
        "language", "dc_language", "webmaster", "dc_publisher", "rights", "copyright",
        "dc_rights", "subtitle", "tagline", "itunes_subtitle", "info",
        "feedburner_browserfriendly", "generator", "cloud", "created", "dcterms_created",
        "expirationdate", "width", "height", "newlocation", "media_credit", "media_rating",
        "media_restriction", "media_license", "media_player", "itunes_block", "itunes_explicit",
        "dcterms_valid",
    }
)  # fmt: skip
# feedparser's "special hack": an unprefixed element outside these lists ends image/textinput.
_KEEPS_TEXTINPUT = frozenset({"title", "link", "description", "name"})
_KEEPS_IMAGE = frozenset({"title", "link", "description", "url", "href", "width", "height"})
_AUTHOR_CHILDREN = frozenset({"name", "email", "uri", "url", "homepage"})

_XMLNS = re.compile(rb"""xmlns(?::([^\s=/>"']+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_FIRST_ELEMENT = re.compile(rb"<\w")
_URIFIXER = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
_AMP_REF = re.compile(r"&([A-Za-z0-9_]+);")
_CLOSE_TAG = re.compile(r"</(\w+)>")
_ANY_REF = re.compile(r"&#?\w+;")
_TAG_NAME = re.compile(r"</?(\w+)")
_NAMED_REF = re.compile(r"&(\w+);")
_EMAIL = re.compile(
    r"(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"
    r"([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"
)
_MAX_DEPTH = 64

# The repairs of a not-well-formed document (see _repair).
_DECLARATION = re.compile(rb"<\?xml\s.*?\?>", re.DOTALL)
_XML_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MARKUP = re.compile(rb"(<!\[CDATA\[.*?\]\]>|<!--.*?-->|<[^>]*>)", re.DOTALL)
_CONTROL_IN_IDENTITY = re.compile(
    rb"<(?:[\w.-]+:)?(?:guid|id|link)\b[^>]*>[^<]*[\x00-\x08\x0b\x0c\x0e-\x1f]"
)
_PREDEFINED = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})
# sgmllib's reading of "&" in text: a name or a character reference, ";" optional.
_TEXT_REF = re.compile(rb"&(?:([A-Za-z][-.A-Za-z0-9]*)|(#[0-9]+|#[xX][0-9a-fA-F]+))?;?")
_LOOSE_AMP = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#[xX][0-9a-fA-F]+);)")
_ROOT_NAME = re.compile(rb"<([\w:.-]+)")

# Dates: only the shapes whose meaning is certain and which feedparser reads the same way.
_W3DTF = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:([Zz])|([+-])(\d{2}):(\d{2}))?)?"
)
_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_ZONES = {
    "gmt": 0, "ut": 0, "utc": 0, "z": 0, "edt": -4, "est": -5, "cdt": -5, "cst": -6,
    "mdt": -6, "mst": -7, "pdt": -7, "pst": -8,
}  # fmt: skip
_ZONES_OR_NUM = re.compile(r"[+-]\d{2}:?\d{2}|" + "|".join(_ZONES))
_RFC822 = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,\s+)?(\d{1,2})\s+([a-z]{3})\s+(\d{4})\s+"
    r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s+([+-]\d{2}:?\d{2}|[a-z]{1,3})",
    re.IGNORECASE,
)


def _inert(key: str) -> bool:
    """No feedparser handler and no key anything reads: the element changes nothing."""
    return not (key in _HANDLERS or key in _FP_HANDLERS or key in _RESERVED_KEYS)


class _Decline(Exception):
    """The document uses something the fast path does not reproduce exactly."""


def _parser() -> etree.XMLParser:
    # A fresh parser per document: parsers keep an error log and are not thread-safe, and
    # parse_off_loop may run on threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_fast(decoded: bytes, encoding_info: dict[str, Any], *, url: str) -> dict[str, Any] | None:
    """A feedparser-shaped result (``version``, ``feed``, ``entries``, ``bozo``) or None.

    ``decoded`` and ``encoding_info`` are what ``feedparser.encodings.convert_to_utf8`` returned
    and recorded for the document, so both paths read the same characters. None means "use
    feedparser": it is never an error.
    """
    if encoding_info.get("bozo") or not encoding_info.get("encoding"):
        return None  # a mislabelled charset, a non-XML content type: feedparser's judgement
    first = _FIRST_ELEMENT.search(decoded)
    if first is None or _DOCTYPE.search(decoded, 0, first.start()):
        return None
    try:
        namespacemap, unknown, declared = _declarations(decoded)
        root = _well_formed(decoded)
        exc: Exception | None = None
        if root is None:
            # Not well-formed: feedparser would flag the document and read it with its loose
            # parser. The few defects repaired here are the common ones, and the repaired text
            # gives the same entries as the loose parser (checked on the shared corpus and by
            # test_fastparse's random malformed items); anything else still goes to feedparser.
            exc = _strict_error(decoded)
            repaired = _repair(decoded, first.start())
            root = _well_formed(repaired) if exc is not None and repaired != decoded else None
            if root is None:
                return None
        result = _Reader(url, namespacemap, unknown, declared).read(root)
    except Exception:  # _Decline, lxml's errors, or anything unforeseen: feedparser decides
        return None
    if exc is not None:
        result["bozo"], result["bozo_exception"] = True, exc
    return result


def _well_formed(text: bytes) -> Any:
    """The root element, or None when lxml reports any error (it may recover where expat fails)."""
    parser = _parser()
    try:
        root = etree.fromstring(text, parser)
    except etree.XMLSyntaxError:
        return None
    return None if len(parser.error_log) else root


class _Locator:
    """Where expat stopped, as the SAX exception feedparser reports wants it."""

    def __init__(self, line: int, column: int) -> None:
        self.line, self.column = line, column

    def getSystemId(self) -> None:
        return None

    def getPublicId(self) -> None:
        return None

    def getLineNumber(self) -> int:
        return self.line

    def getColumnNumber(self) -> int:
        return self.column


def _strict_error(decoded: bytes) -> Exception | None:
    """The error feedparser's strict (expat) pass reports for the document, found at C speed.

    None when expat accepts it: then lxml and expat disagree, and feedparser decides.
    """
    parser = expat.ParserCreate(None, " ")  # namespace processing, as feedparser's SAX reader
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_UNLESS_STANDALONE)
    try:
        parser.Parse(decoded, True)
    except expat.ExpatError as exc:
        where = _Locator(exc.lineno, exc.offset)
        return SAXParseException(expat.ErrorString(exc.code), None, where)  # type: ignore[arg-type]
    return None


def _repair(decoded: bytes, first: int) -> bytes:
    """Fix the defects feedparser's loose parser reads past, the way it reads them.

    An XML declaration after the first goes (one written after a blank line, behind the one the
    decoding put in front). Markup after the root element's end tag (an injected script) is cut.
    C0 controls XML forbids go (or become spaces, see _control), unless one sits in a guid, id
    or link, which make the entry's identity (then nothing is repaired). Outside CDATA sections,
    every ``&`` that starts neither a predefined entity nor a character reference is rewritten as
    sgmllib reads it: in text, an HTML 4 entity becomes its character and any other name stays
    text, with sgmllib's added ``;`` when it had none (``AT&T`` reads ``AT&T;``); inside a tag
    it stays as written.
    """
    # The prolog from its second byte: a declaration at offset 0 is the one that stays.
    prolog = decoded[1:first]
    text = decoded[:1] + _DECLARATION.sub(b"", prolog) + decoded[first:]
    first -= len(decoded) - len(text)
    name = _ROOT_NAME.match(text, first)
    if name is not None:
        end = text.rfind(b"</" + name.group(1) + b">")
        if end >= 0:
            text = text[: end + len(name.group(1)) + 3]
    if _XML_CONTROLS.search(text):
        if _CONTROL_IN_IDENTITY.search(text):
            return decoded
        text = _XML_CONTROLS.sub(_control, text)
    parts = _MARKUP.split(text)
    return b"".join(_repair_part(i, p) for i, p in enumerate(parts))


def _control(match: re.Match[bytes]) -> bytes:
    # The loose parser keeps them; normalization then drops them, except the four that
    # str.split() counts as whitespace.
    return b" " if match.group() >= b"\x1c" else b""


def _repair_part(index: int, part: bytes) -> bytes:
    if index % 2 == 0:
        return _TEXT_REF.sub(_text_ref, part) if b"&" in part else part
    if part.startswith(b"<!"):
        return part  # a CDATA section or a comment
    return _LOOSE_AMP.sub(b"&amp;", part)


def _text_ref(match: re.Match[bytes]) -> bytes:
    name, number = match.group(1), match.group(2)
    if number is not None:
        return b"&" + number + b";"
    if name is None:
        return b"&amp;"
    if name in _PREDEFINED:
        return b"&" + name + b";"
    codepoint = html.entities.name2codepoint.get(name.decode("ascii"))
    if codepoint is not None:
        return b"&#%d;" % codepoint
    return b"&amp;" + name + b";"


def _declarations(
    decoded: bytes,
) -> tuple[dict[str, str], dict[str, set[str | None]], set[str]]:
    """Every namespace declaration, found textually (a superset: CDATA can add false ones).

    Returns feedparser's prefix map (prefix as written -> canonical prefix of a namespace it
    knows), the prefixes of each namespace it does not know, and the declared URIs (lower-cased,
    ``default:`` in front for default declarations). feedparser names an element in an unknown
    namespace by the first prefix declared for it and maps prefixes document-wide; a prefix bound
    to two namespaces would make that order-dependent, so such documents are declined.
    """
    by_prefix: dict[str, set[str]] = {}  # lower-cased prefix -> URIs
    spellings: dict[str, set[str]] = {}  # lower-cased prefix -> prefixes as written
    unknown_prefixes: dict[str, set[str | None]] = {}
    declared: set[str] = set()
    for match in _XMLNS.finditer(decoded):
        raw_prefix, dq, sq = match.groups()
        uri = (dq if dq is not None else sq or b"").decode("utf-8")
        if "&" in uri:
            raise _Decline
        prefix = raw_prefix.decode("utf-8") if raw_prefix else None
        if prefix is None:
            declared.add("default:" + uri.lower())
        else:
            declared.add(uri.lower())
            by_prefix.setdefault(prefix.lower(), set()).add(uri)
            spellings.setdefault(prefix.lower(), set()).add(prefix)
        if _canonical(uri) is None and uri:
            unknown_prefixes.setdefault(uri, set()).add(prefix)
    namespacemap: dict[str, str] = {}
    for lowered, uris in by_prefix.items():
        if len(uris) > 1:
            raise _Decline
        canonical = _canonical(next(iter(uris)))
        if canonical is not None:
            for written in spellings[lowered]:
                namespacemap[written] = canonical
    return namespacemap, unknown_prefixes, declared


def _canonical(uri: str) -> str | None:
    lower = uri.lower()
    if "backend.userland.com/rss" in lower:
        return ""
    return _KNOWN_NS.get(lower)


# --- feedparser's text post-processing ----------------------------------------------------------


def _urljoin(base: str, uri: str) -> str:
    if PLAIN_ABSOLUTE_URL.fullmatch(uri):
        return uri  # what urljoin returns for it, without parsing both URLs
    uri = _URIFIXER.sub(r"\1\3", uri)
    try:
        return urllib.parse.urljoin(base, uri)
    except ValueError:
        return ""


def _fix_text(output: str) -> str:
    """feedparser's repair of UTF-8 read as Latin-1, then its cp1252 mapping of C1 controls."""
    if output.isascii():
        return output
    with contextlib.suppress(UnicodeError):
        output = output.encode("iso-8859-1").decode("utf-8")
    # translate() with a dict is slow per character; C1 controls are rare.
    return output.translate(_CP1252) if _C1.search(output) else output


def _looks_like_html(text: str) -> bool:
    if not (_CLOSE_TAG.search(text) or _ANY_REF.search(text)):
        return False
    if any(t.lower() not in _ACCEPTABLE_HTML for t in _TAG_NAME.findall(text)):
        return False
    return all(e in html.entities.entitydefs for e in _NAMED_REF.findall(text))


def _map_content_type(value: str) -> str:
    value = value.lower()
    if value in ("text", "plain"):
        return "text/plain"
    if value == "html":
        return "text/html"
    if value == "xhtml":
        return "application/xhtml+xml"
    return value


def _parse_date(value: str) -> time.struct_time | None:
    """A UTC struct_time exactly as feedparser's date handlers give it (None if unreadable).

    The two common shapes (W3DTF, RFC 822 with a known zone) are read here, faster; anything
    else (other languages, AM/PM, two-digit years, impossible days, ...) goes to feedparser's own
    date function, the one its parser calls, so the answer is the same.
    """
    if not value:
        return None
    try:
        stamp = _quick_date(value.strip())
    except ValueError:  # an impossible day or time: let feedparser's handlers decide
        stamp = None
    if stamp is not None and 1900 <= stamp.year <= 9998:
        return stamp.astimezone(UTC).utctimetuple()
    parsed: time.struct_time | None = _feedparser_date(value)
    return parsed


def _quick_date(text: str) -> datetime | None:
    match = _W3DTF.fullmatch(text)
    if match:
        year, month, day, hour, minute, second, zulu, sign, tzh, tzm = match.groups()
        if hour is None:
            return datetime(int(year), int(month), int(day), tzinfo=UTC)
        # No zone at all is read as UTC by feedparser's W3DTF handler.
        offset = 0 if zulu or not sign else (int(tzh) * 60 + int(tzm)) * (-1 if sign == "-" else 1)
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
            tzinfo=timezone(timedelta(minutes=offset)),
        )  # fmt: skip
    match = _RFC822.fullmatch(text)
    if not match:
        return None
    day, mon, year, hour, minute, second, zone = match.groups()
    month = _MONTHS.get(mon.lower())
    zone = zone.lower()
    if month is None or not _ZONES_OR_NUM.fullmatch(zone):
        return None
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 60 + int(digits[2:])
        offset = -offset if zone[0] == "-" else offset
    else:
        offset = _ZONES[zone] * 60
    return datetime(
        int(year), month, int(day), int(hour), int(minute), int(second or 0),
        tzinfo=timezone(timedelta(minutes=offset)),
    )  # fmt: skip


# --- the reader ---------------------------------------------------------------------------------

_Handler = Callable[["_Reader", Any, dict[str, str]], None]


class _Reader:
    """A walk over the lxml tree mirroring feedparser's handler state machine.

    Field names follow feedparser's so the port can be read side by side with it.
    """

    def __init__(
        self,
        url: str,
        namespacemap: dict[str, str],
        unknown: dict[str, set[str | None]],
        declared: set[str],
    ) -> None:
        self.base = url
        self.namespacemap = namespacemap
        self.unknown = unknown
        self.declared = declared
        self.version = ""
        self.feed: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.depth_maps: list[dict[str, int]] = []
        self.sourcedata: dict[str, Any] = {}
        self.contentparams: dict[str, str] = {}
        self.infeed = self.inentry = self.inimage = self.intextinput = self.insource = 0
        self.inauthor = self.incontributor = self.inpublisher = self.incontent = 0
        self.has_content = 0
        self.guidislink = False
        self.title_depth = -1
        self.depth = 0
        self.summary_key: str | None = None
        self.names: dict[tuple[str, str | None], tuple[str, str, bool]] = {}

    # -- driving --

    def read(self, root: Any) -> dict[str, Any]:
        key = self.name(root)[0]
        # feedparser takes the version from the first RSS 1.0 / RSS 0.90 / Atom 1.0 namespace
        # declaration it meets; with more than one of them the order would matter.
        rss10 = _RSS10 in self.declared or "default:" + _RSS10 in self.declared
        rss090 = "default:" + _RSS090 in self.declared
        atom10 = _ATOM10 in self.declared or "default:" + _ATOM10 in self.declared
        if key == "rss":
            if rss10 or rss090:
                raise _Decline
        elif key == "feed" and root.tag == _ATOM_TAG:
            if rss10 or rss090:
                raise _Decline
            self.version = "atom10"
        elif key == "rdf_rdf":
            if atom10 or rss10 == rss090:
                raise _Decline
            self.version = "rss10" if rss10 else "rss090"
        else:
            raise _Decline
        self.walk(root)
        return {"version": self.version, "feed": self.feed, "entries": self.entries, "bozo": False}

    def name(self, el: Any) -> tuple[str, str, bool]:
        """(dispatch key, lowercased tag, has a prefix) as feedparser's unknown_starttag sees it."""
        tag = el.tag
        if not isinstance(tag, str):
            raise _Decline  # an entity reference or other non-element node
        cache_key = (tag, el.prefix)
        found = self.names.get(cache_key)
        if found is not None:
            return found
        if tag[0] == "{":
            uri, _, local = tag[1:].partition("}")
            canonical = _canonical(uri)
            if canonical is not None:
                found = self.qualify(canonical.lower(), local)
            else:
                # feedparser uses the first prefix declared for the namespace; with several,
                # accept only when every candidate name is inert.
                prefixes = self.unknown.get(uri) or {el.prefix}
                found = self.qualify((el.prefix or "").lower(), local)
                if len(prefixes) > 1:
                    candidates = [self.qualify((p or "").lower(), local) for p in prefixes]
                    if not all(c[2] and _inert(c[0]) for c in candidates):
                        raise _Decline
        else:
            found = self.qualify("", tag)
        self.names[cache_key] = found
        return found

    def qualify(self, prefix: str, local: str) -> tuple[str, str, bool]:
        local = local.lower()
        full = f"{prefix}:{local}" if prefix else local
        if prefix:
            prefix = self.namespacemap.get(prefix, prefix)
        return (f"{prefix}_{local}" if prefix else local, full, bool(prefix))

    def attrs(self, el: Any) -> dict[str, str]:
        attrib = el.attrib
        if not attrib:
            return {}
        out: dict[str, str] = {}
        qnames: list[tuple[str, str]] = []
        for name, value in attrib.items():
            if name[0] == "{":
                uri, _, local = name[1:].partition("}")
                canonical = _KNOWN_NS.get(uri.lower(), "")
                if canonical:
                    out[f"{canonical}:{local}".lower()] = value
                qnames.append((local.lower(), value))
            else:
                out[name.lower()] = value
                qnames.append((name.lower(), value))
        for name, value in qnames:
            out[name] = value
        for name in ("rel", "type"):
            if name in out:
                out[name] = out[name].lower()
        return out

    def walk(self, el: Any) -> None:
        if self.incontent:
            raise _Decline  # markup inside a text construct: feedparser rebuilds it as xhtml
        key, full, prefixed = self.name(el)
        attrs = self.attrs(el)
        saved_base = self.base
        base = attrs.get("xml:base", attrs.get("base")) if attrs else None
        if base:
            # xml:base scopes link resolution to this element, as in feedparser.
            self.base = make_safe_absolute_uri(self.base, base) or self.base
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Decline
        if not prefixed:
            if full not in _KEEPS_TEXTINPUT:
                self.intextinput = 0
            if full not in _KEEPS_IMAGE:
                self.inimage = 0
        handler = _HANDLERS.get(key)
        if handler is not None:
            handler(self, el, attrs)
        elif key in _HARMLESS or key.startswith("georss_"):
            # A GeoRSS leaf only sets "where" and "geometry", which nothing reads.
            if len(el):
                raise _Decline
        elif key in _FP_HANDLERS or key in _RESERVED_KEYS:
            raise _Decline
        else:
            for child in el:
                self.walk(child)
        self.depth -= 1
        self.base = saved_base

    def children(self, el: Any) -> None:
        for child in el:
            self.walk(child)

    @staticmethod
    def leaf(el: Any) -> str:
        if len(el):
            raise _Decline
        text = el.text
        return text if text is not None else ""

    # -- feedparser's bookkeeping --

    def context(self) -> dict[str, Any]:
        if self.insource:
            return self.sourcedata
        if self.inimage and "image" in self.feed:
            image: dict[str, Any] = self.feed["image"]
            return image
        if self.intextinput:
            textinput: dict[str, Any] = self.feed["textinput"]
            return textinput
        if self.inentry:
            return self.entries[-1]
        return self.feed

    def pop(self, element: str, text: str, expecting: bool = True) -> str:
        output = text.strip()
        if not expecting:
            return output
        if element in _RELATIVE and output and (element != "id" or self.guidislink):
            output = _urljoin(self.base, output)
        if (
            not self.version.startswith("atom")
            and self.contentparams.get("type") == "text/plain"
            and _looks_like_html(output)
        ):
            self.contentparams["type"] = "text/html"
        output = _fix_text(output)
        if element in ("category", "tags", "itunes_keywords"):
            return output
        if element == "title" and -1 < self.title_depth <= self.depth:
            return output
        if self.inentry and not self.insource:
            entry = self.entries[-1]
            if element == "content":
                entry.setdefault("content", []).append({**self.contentparams, "value": output})
            elif element == "link":
                if not self.inimage:
                    output = _AMP_REF.sub(r"&\1", output.replace("&amp;", "&"))
                    entry["link"] = output
                    if output:
                        entry["links"][-1]["href"] = output
            else:
                if element == "description":
                    element = "summary"
                depths = self.depth_maps[-1]
                old = depths.get(element)
                if old is None or self.depth <= old:
                    depths[element] = self.depth
                    entry[element] = output
                if self.incontent:
                    entry[element + "_detail"] = dict(self.contentparams)
        elif self.infeed or self.insource:
            context = self.context()
            if element == "description":
                element = "subtitle"
            context[element] = output
            if element == "link":
                output = _AMP_REF.sub(r"&\1", output)
                context["link"] = output
                context["links"][-1]["href"] = output
            elif self.incontent:
                context[element + "_detail"] = dict(self.contentparams)
        return output

    def push_content(self, attrs: dict[str, str], default_type: str) -> None:
        if "mode" in attrs or "src" in attrs:
            raise _Decline  # base64 or out-of-line content
        ctype = _map_content_type(attrs.get("type", default_type))
        if ctype not in ("text/plain", "text/html"):
            raise _Decline  # xhtml is rebuilt from markup; other types may be base64
        self.incontent += 1
        self.contentparams = {"type": ctype}

    def pop_content(self, element: str, text: str, expecting: bool = True) -> str:
        value = self.pop(element, text, expecting)
        self.incontent -= 1
        self.contentparams = {}
        return value

    def expecting(self) -> bool:
        return bool(self.infeed or self.inentry or self.insource)

    def save(self, key: str, value: Any, overwrite: bool = False) -> None:
        context = self.context()
        if overwrite:
            context[key] = value
        else:
            context.setdefault(key, value)

    def save_author(self, key: str, value: str, prefix: str = "author") -> None:
        context = self.context()
        context.setdefault(prefix + "_detail", {})[key] = value
        self.sync_author_detail()
        context.setdefault("authors", [{}])
        context["authors"][-1][key] = value

    def sync_author_detail(self, key: str = "author") -> None:
        context = self.context()
        detail: dict[str, Any] = context.get(key + "s", [{}])[-1]
        if detail:
            name, email = detail.get("name"), detail.get("email")
            if name and email:
                context[key] = f"{name} ({email})"
            elif name:
                context[key] = name
            elif email:
                context[key] = email
            return
        author, email = context.get(key), None
        if not author:
            return
        match = _EMAIL.search(author)
        if match:
            email = match.group(0)
            author = author.replace(email, "").replace("()", "").replace("<>", "")
            author = author.replace("&lt;&gt;", "").strip()
            if author and author[0] == "(":
                author = author[1:]
            if author and author[-1] == ")":
                author = author[:-1]
            author = author.strip()
        if author or email:
            context.setdefault(key + "_detail", detail)
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email

    def add_tag(self, term: str | None, scheme: str | None, label: str | None) -> None:
        tags = self.context().setdefault("tags", [])
        if not term and not scheme and not label:
            return
        value = {"term": term, "scheme": scheme, "label": label}
        if value not in tags:
            tags.append(value)

    # -- handlers: one per feedparser start/end pair, run over a whole element --

    def h_rss(self, el: Any, attrs: dict[str, str]) -> None:
        if not self.version or not self.version.startswith("rss"):
            version = attrs.get("version", "")
            mapped = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
            if version in mapped:
                self.version = mapped[version]
            elif version.startswith("2."):
                self.version = "rss20"
            else:
                self.version = "rss"
        self.children(el)

    def h_channel(self, el: Any, attrs: dict[str, str]) -> None:
        if "lastmod" in attrs or "href" in attrs:
            raise _Decline
        self.infeed = 1
        self.children(el)
        self.infeed = 0

    def h_feed(self, el: Any, attrs: dict[str, str]) -> None:
        if el.getparent() is not None:
            raise _Decline
        self.infeed = 1
        self.children(el)
        self.infeed = 0

    def h_item(self, el: Any, attrs: dict[str, str]) -> None:
        if self.inentry or "lastmod" in attrs or "href" in attrs:
            raise _Decline
        self.entries.append({})
        self.depth_maps.append({})
        self.inentry = 1
        self.guidislink = False
        self.title_depth = -1
        about = attrs.get(self.namespacemap.get("rdf", "rdf") + ":about")
        if about:
            self.context()["id"] = about
        self.children(el)
        self.inentry = 0
        self.has_content = 0

    def h_image(self, el: Any, attrs: dict[str, str]) -> None:
        context = self.context()
        if not self.inentry:
            context.setdefault("image", {})
        self.inimage = 1
        self.title_depth = -1
        self.children(el)
        self.inimage = 0

    def h_textinput(self, el: Any, attrs: dict[str, str]) -> None:
        if self.inentry or self.inimage:
            raise _Decline
        self.feed.setdefault("textinput", {})
        self.intextinput = 1
        self.title_depth = -1
        self.children(el)
        self.intextinput = 0

    def h_source(self, el: Any, attrs: dict[str, str]) -> None:
        if not self.inentry or self.insource:
            raise _Decline
        if "url" in attrs:
            self.sourcedata["href"] = attrs["url"]
        self.insource = 1
        self.title_depth = -1
        self.children(el)
        self.insource = 0
        self.context()["source"] = dict(self.sourcedata)
        self.sourcedata = {}

    def h_author(self, el: Any, attrs: dict[str, str]) -> None:
        if self.inauthor:
            raise _Decline
        self.inauthor = 1
        self.context().setdefault("authors", []).append({})
        text = el.text or ""
        for child in el:
            key = self.name(child)[0]
            if key in _AUTHOR_CHILDREN:
                self.walk(child)
            elif key in _FP_HANDLERS or key in _RESERVED_KEYS or len(child):
                raise _Decline
            else:
                self.walk(child)
                if child.attrib:  # unknown elements with attributes do not collect their text
                    text += child.text or ""
            text += child.tail or ""
        self.pop("author", text)
        self.inauthor = 0
        self.sync_author_detail()

    def h_contributor(self, el: Any, attrs: dict[str, str]) -> None:
        if self.incontributor or self.inauthor:
            raise _Decline
        self.incontributor = 1
        for child in el:
            if self.name(child)[0] not in _AUTHOR_CHILDREN:
                raise _Decline
            self.walk(child)
        self.incontributor = 0

    def h_dc_contributor(self, el: Any, attrs: dict[str, str]) -> None:
        if self.inauthor or self.inpublisher:
            raise _Decline
        self.leaf(el)  # contributors never reach an entry

    def h_itunes_owner(self, el: Any, attrs: dict[str, str]) -> None:
        if self.inentry or self.inauthor:
            raise _Decline
        self.inpublisher = 1
        for child in el:
            if self.name(child)[0] not in ("name", "email", "itunes_name", "itunes_email"):
                raise _Decline
            self.walk(child)
        self.inpublisher = 0

    def h_name(self, el: Any, attrs: dict[str, str]) -> None:
        value = self.pop("name", self.leaf(el), expecting=False)
        if self.inpublisher:
            self.save_author("name", value, "publisher")
        elif self.inauthor:
            self.save_author("name", value)
        elif self.intextinput and not self.incontributor:
            self.context()["name"] = value

    def h_email(self, el: Any, attrs: dict[str, str]) -> None:
        value = self.pop("email", self.leaf(el), expecting=False)
        if self.inpublisher:
            self.save_author("email", value, "publisher")
        elif self.inauthor:
            self.save_author("email", value)

    def h_url(self, el: Any, attrs: dict[str, str]) -> None:
        value = self.pop("href", self.leaf(el))
        if self.inauthor:
            self.save_author("href", value)

    def text_construct(self, el: Any, attrs: dict[str, str], element: str, ctype: str) -> str:
        self.push_content(attrs, ctype)
        return self.pop_content(element, self.leaf(el), self.expecting())

    def h_title(self, el: Any, attrs: dict[str, str]) -> None:
        if self.text_construct(el, attrs, "title", "text/plain"):
            self.title_depth = self.depth

    def h_media_title(self, el: Any, attrs: dict[str, str]) -> None:
        saved = self.title_depth
        self.h_title(el, attrs)
        self.title_depth = saved

    def h_link(self, el: Any, attrs: dict[str, str]) -> None:
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
        context = self.context()
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href:
            attrs.pop("url", None)
            attrs.pop("uri", None)
            attrs["href"] = href
        if "href" in attrs:
            attrs["href"] = _urljoin(self.base, attrs["href"])
        links = context.setdefault("links", [])
        if not (self.inentry and self.inimage):
            links.append(attrs)
        if "href" in attrs:
            if attrs["rel"] == "alternate" and _map_content_type(attrs["type"]) in _HTML_TYPES:
                context["link"] = attrs["href"]
            if len(el):
                raise _Decline
        else:
            self.pop("link", self.leaf(el), self.expecting())

    def h_guid(self, el: Any, attrs: dict[str, str]) -> None:
        self.guidislink = attrs.get("ispermalink", "true") == "true"
        value = self.pop("id", self.leaf(el))
        self.save("guidislink", self.guidislink and "link" not in self.context())
        if self.guidislink:
            self.save("link", value)

    def h_description(self, el: Any, attrs: dict[str, str]) -> None:
        if "summary" in self.context() and not self.has_content:
            self.summary_key = "content"
            self.start_content(attrs, "text/plain")
            self.end_content(el)
        else:
            self.text_construct(el, attrs, "description", "text/html")
        self.summary_key = None

    def h_summary(self, el: Any, attrs: dict[str, str]) -> None:
        if "summary" in self.context() and not self.has_content:
            self.summary_key = "content"
            self.start_content(attrs, "text/plain")
            self.end_content(el)
        else:
            self.summary_key = "summary"
            self.push_content(attrs, "text/plain")
            self.pop_content("summary", self.leaf(el))
        self.summary_key = None

    def start_content(self, attrs: dict[str, str], ctype: str) -> None:
        self.has_content = 1
        self.push_content(attrs, ctype)

    def end_content(self, el: Any) -> None:
        copy_to_summary = self.contentparams.get("type") in ("text/plain", "text/html")
        value = self.pop_content("content", self.leaf(el))
        if copy_to_summary:
            self.save("summary", value)

    def h_content(self, el: Any, attrs: dict[str, str]) -> None:
        self.start_content(attrs, "text/plain")
        self.end_content(el)

    def h_content_encoded(self, el: Any, attrs: dict[str, str]) -> None:
        self.start_content(attrs, "text/html")
        self.end_content(el)

    def h_published(self, el: Any, attrs: dict[str, str]) -> None:
        value = self.pop("published", self.leaf(el))
        self.save("published_parsed", _parse_date(value), overwrite=True)

    def h_updated(self, el: Any, attrs: dict[str, str]) -> None:
        value = self.pop("updated", self.leaf(el))
        self.save("updated_parsed", _parse_date(value), overwrite=True)

    def category(self, el: Any, attrs: dict[str, str]) -> None:
        value = self.pop("category", self.leaf(el))
        if not value:
            return
        tags = self.context()["tags"]
        if tags and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            self.add_tag(value, None, None)

    def h_category(self, el: Any, attrs: dict[str, str]) -> None:
        self.add_tag(
            attrs.get("term"), attrs.get("scheme", attrs.get("domain")), attrs.get("label")
        )
        self.category(el, attrs)

    def h_media_category(self, el: Any, attrs: dict[str, str]) -> None:
        attrs.setdefault("scheme", "http://search.yahoo.com/mrss/category_schema")
        self.h_category(el, attrs)

    def h_itunes_category(self, el: Any, attrs: dict[str, str]) -> None:
        self.add_tag(attrs.get("text"), "http://www.itunes.com/", None)
        self.category(el, attrs)

    def keywords(self, el: Any, attrs: dict[str, str], element: str, scheme: str | None) -> None:
        if attrs:
            raise _Decline  # feedparser's end handler then fails and falls back oddly
        for term in self.pop(element, self.leaf(el)).split(","):
            if term.strip():
                self.add_tag(term.strip(), scheme, None)

    def h_itunes_keywords(self, el: Any, attrs: dict[str, str]) -> None:
        self.keywords(el, attrs, "itunes_keywords", "http://www.itunes.com/")

    def h_media_keywords(self, el: Any, attrs: dict[str, str]) -> None:
        self.keywords(el, attrs, "media_keywords", None)

    def h_tags(self, el: Any, attrs: dict[str, str]) -> None:
        for term in self.pop("tags", self.leaf(el)).split(","):
            self.add_tag(term.strip(), None, None)

    def h_enclosure(self, el: Any, attrs: dict[str, str]) -> None:
        if len(el):
            raise _Decline
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href:
            attrs.pop("url", None)
            attrs.pop("uri", None)
            attrs["href"] = href
        attrs["rel"] = "enclosure"
        self.context().setdefault("links", []).append(attrs)

    def h_media_content(self, el: Any, attrs: dict[str, str]) -> None:
        self.context().setdefault("media_content", []).append(attrs)
        self.children(el)

    def h_media_thumbnail(self, el: Any, attrs: dict[str, str]) -> None:
        thumbnails = self.context().setdefault("media_thumbnail", [])
        thumbnails.append(attrs)
        url = self.pop("url", self.leaf(el))
        if url.strip() and "url" not in self.context()["media_thumbnail"][-1]:
            self.context()["media_thumbnail"][-1]["url"] = url

    def h_media_group(self, el: Any, attrs: dict[str, str]) -> None:
        self.children(el)

    def h_itunes_image(self, el: Any, attrs: dict[str, str]) -> None:
        self.leaf(el)
        if attrs.get("href"):
            self.context()["image"] = {"href": attrs["href"]}
        elif attrs.get("url"):
            self.context()["image"] = {"href": attrs["url"]}


_HANDLERS: dict[str, _Handler] = {
    "rss": _Reader.h_rss,
    "channel": _Reader.h_channel,
    "feed": _Reader.h_feed,
    "item": _Reader.h_item,
    "entry": _Reader.h_item,
    "image": _Reader.h_image,
    "textinput": _Reader.h_textinput,
    "source": _Reader.h_source,
    "author": _Reader.h_author,
    "managingeditor": _Reader.h_author,
    "dc_author": _Reader.h_author,
    "dc_creator": _Reader.h_author,
    "itunes_author": _Reader.h_author,
    "contributor": _Reader.h_contributor,
    "dc_contributor": _Reader.h_dc_contributor,
    "itunes_owner": _Reader.h_itunes_owner,
    "name": _Reader.h_name,
    "itunes_name": _Reader.h_name,
    "email": _Reader.h_email,
    "itunes_email": _Reader.h_email,
    "url": _Reader.h_url,
    "uri": _Reader.h_url,
    "homepage": _Reader.h_url,
    "title": _Reader.h_title,
    "dc_title": _Reader.h_title,
    "media_title": _Reader.h_media_title,
    "link": _Reader.h_link,
    "guid": _Reader.h_guid,
    "id": _Reader.h_guid,
    "description": _Reader.h_description,
    "dc_description": _Reader.h_description,
    "media_description": _Reader.h_description,
    "summary": _Reader.h_summary,
    "itunes_summary": _Reader.h_summary,
    "content": _Reader.h_content,
    "content_encoded": _Reader.h_content_encoded,
    "fullitem": _Reader.h_content_encoded,
    "published": _Reader.h_published,
    "pubdate": _Reader.h_published,
    "issued": _Reader.h_published,
    "dcterms_issued": _Reader.h_published,
    "updated": _Reader.h_updated,
    "modified": _Reader.h_updated,
    "lastbuilddate": _Reader.h_updated,
    "dc_date": _Reader.h_updated,
    "dcterms_modified": _Reader.h_updated,
    "category": _Reader.h_category,
    "keywords": _Reader.h_category,
    "dc_subject": _Reader.h_category,
    "media_category": _Reader.h_media_category,
    "itunes_category": _Reader.h_itunes_category,
    "itunes_keywords": _Reader.h_itunes_keywords,
    "media_keywords": _Reader.h_media_keywords,
    "tags": _Reader.h_tags,
    "enclosure": _Reader.h_enclosure,
    "media_content": _Reader.h_media_content,
    "media_thumbnail": _Reader.h_media_thumbnail,
    "media_group": _Reader.h_media_group,
    "itunes_image": _Reader.h_itunes_image,
    "itunes_link": _Reader.h_itunes_image,
}
