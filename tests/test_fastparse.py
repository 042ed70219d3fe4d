"""The lxml fast path (``bot.fastparse``): same entries as feedparser wherever it answers, and a
refusal (fall back to feedparser) for everything it does not reproduce or that is unsafe.

Equivalence is checked on the shared real-world corpus, on hand-written feeds that hit
feedparser's quirks, and on seeded random combinations of item constructs.
"""

from __future__ import annotations

import random
import urllib.parse
from pathlib import Path

import pytest
from feedparser.urls import _urljoin as feedparser_urljoin

from bot.errors import ParseError
from bot.fastparse import _urljoin, parse_fast
from bot.normalize import normalize_feed
from bot.parse import _headers, _reject_entity_declarations, parse_document
from bot.types import Entry, ParsedFeed

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "feeds"
URL = "https://news.example.com/feeds/world.xml"
# Files of the corpus that must keep taking the fast path (67 of 79 today, 6 of them repaired:
# the rest are JSON, beyond repair, mislabelled encodings, markup in text or xhtml content).
MIN_FAST_FILES = 67


def _fast_taken(body: bytes, url: str = URL, content_type: str | None = None) -> bool:
    decoded, info = _reject_entity_declarations(body, _headers(url, content_type))
    return parse_fast(decoded, info, url=url) is not None


def _both(
    body: bytes, url: str = URL, content_type: str | None = None
) -> tuple[ParsedFeed, list[Entry], ParsedFeed, list[Entry]]:
    fast = parse_document(body, url=url, content_type=content_type)
    slow = parse_document(body, url=url, content_type=content_type, fast=False)
    return (
        fast,
        normalize_feed(fast, feed_url=url),
        slow,
        normalize_feed(slow, feed_url=url),
    )


def _meta(parsed: ParsedFeed) -> tuple[object, ...]:
    return (parsed.format, parsed.title, parsed.link, parsed.bozo, parsed.bozo_message)


def assert_same(body: bytes, url: str = URL, *, fast_expected: bool = True) -> list[Entry]:
    assert _fast_taken(body, url) is fast_expected
    fast, fast_entries, slow, slow_entries = _both(body, url)
    assert _meta(fast) == _meta(slow)
    assert fast.entries == slow.entries  # the raw entries too, before normalization
    assert fast_entries == slow_entries
    return fast_entries


def rss(items: str, channel: str = "", ns: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<rss version="2.0" {ns}><channel><title>World</title>'
        f"<link>https://news.example.com/</link>{channel}{items}</channel></rss>"
    ).encode()


MEDIA = 'xmlns:media="http://search.yahoo.com/mrss/"'
DC = 'xmlns:dc="http://purl.org/dc/elements/1.1/"'
CONTENT = 'xmlns:content="http://purl.org/rss/1.0/modules/content/"'
ATOM = 'xmlns:atom="http://www.w3.org/2005/Atom"'
ALL_NS = f"{MEDIA} {DC} {CONTENT} {ATOM}"


# --- the shared corpus ----------------------------------------------------------------------


def test_corpus_entries_are_identical_wherever_the_fast_path_answers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not DATA.is_dir():
        pytest.skip(f"shared feed corpus not found at {DATA}")
    files = sorted(p for p in DATA.rglob("*") if p.is_file() and p.suffix != ".md")
    fast_files = fast_entries = all_entries = 0
    for path in files:
        body = path.read_bytes()
        url = f"https://feeds.example.com/{path.parent.name}/{path.name}"
        try:
            slow = parse_document(body, url=url, fast=False)
        except ParseError:
            continue
        slow_entries = normalize_feed(slow, feed_url=url)
        all_entries += len(slow_entries)
        if not _fast_taken(body, url):
            continue
        fast = parse_document(body, url=url)
        entries = normalize_feed(fast, feed_url=url)
        assert _meta(fast) == _meta(slow), path.name
        assert entries == slow_entries, path.name
        fast_files += 1
        fast_entries += len(entries)
    with capsys.disabled():
        print(
            f"\nfast path: {fast_files}/{len(files)} files, "
            f"{fast_entries}/{all_entries} entries identical to feedparser"
        )
    assert fast_files >= MIN_FAST_FILES


# --- feedparser's quirks, reproduced ----------------------------------------------------------


def test_relative_permalink_guid_is_resolved_and_becomes_the_link() -> None:
    entries = assert_same(rss("<item><title>A</title><guid>story/1</guid></item>"))
    assert entries[0].link == "https://news.example.com/feeds/story/1"
    assert entries[0].guid == "https://news.example.com/feeds/story/1"


def test_non_permalink_guid_is_left_alone() -> None:
    body = rss('<item><title>A</title><guid isPermaLink="false">story/1</guid></item>')
    assert assert_same(body)[0].guid == "story/1"


def test_description_after_content_and_media_description_as_content() -> None:
    items = (
        "<item><title>A</title><content:encoded><![CDATA[<p>long body text here</p>]]>"
        "</content:encoded><description>short</description></item>"
        "<item><title>B</title><description>first</description>"
        "<media:content url='https://img.example.com/b.jpg' medium='image'>"
        "<media:description>a much longer media description wins</media:description>"
        "</media:content></item>"
        "<item><title>C</title><media:description>media first</media:description>"
        "<description>then the description</description></item>"
    )
    entries = assert_same(rss(items, ns=ALL_NS))
    assert entries[1].summary == "a much longer media description wins"
    assert entries[1].image == "https://img.example.com/b.jpg"


def test_title_depth_rules_media_and_dc_titles() -> None:
    items = (
        "<item><media:group><media:title>deep first</media:title></media:group>"
        "<title>real</title></item>"
        "<item><title>kept</title><media:title>ignored</media:title></item>"
        "<item><media:title>only media</media:title></item>"
        "<item><title>one</title><source url='https://s.example.com/'>S</source>"
        "<dc:title>after source</dc:title></item>"
    )
    titles = [e.title for e in assert_same(rss(items, ns=ALL_NS))]
    assert titles == ["real", "kept", "only media", "after source"]


def test_titles_guessed_as_html_or_kept_as_text() -> None:
    items = (
        "<item><title>Tom &amp; Jerry &lt;3</title></item>"
        "<item><title>&lt;b&gt;Bold&lt;/b&gt; news &amp;amp; more</title></item>"
        "<item><title>a &lt;x&gt; b &lt;/x&gt;</title></item>"
    )
    titles = [e.title for e in assert_same(rss(items))]
    assert titles[0] == "Tom & Jerry <3"
    assert titles[1] == "Bold news & more"


def test_authors_emails_and_atom_people() -> None:
    items = (
        "<item><title>A</title><author>jane@example.com (Jane Doe)</author></item>"
        "<item><title>B</title><dc:creator>Max Mustermann</dc:creator></item>"
        "<item><title>C</title><author>x@example.org</author><dc:creator>Y</dc:creator></item>"
        "<item><title>D</title><atom:author><atom:name>Ann</atom:name>"
        "<atom:email>ann@example.com</atom:email><atom:uri>/ann</atom:uri></atom:author></item>"
    )
    entries = assert_same(rss(items, ns=ALL_NS))
    assert [e.author for e in entries[:2]] == ["Jane Doe", "Max Mustermann"]


def test_categories_links_enclosures_and_thumbnails() -> None:
    items = (
        "<item><title>A</title><category domain='d'>World</category><category>world</category>"
        "<category>Politics</category><media:category>Mrss</media:category>"
        "<media:keywords>one, two,,three</media:keywords>"
        "<atom:link href='/alt' /><link>https://news.example.com/a?x=1&amp;y=2</link>"
        "<enclosure url='https://img.example.com/a.png' type='image/png' length='1'/></item>"
        "<item><title>B</title><media:thumbnail>https://img.example.com/t.jpg</media:thumbnail>"
        "<link>rel/b</link></item>"
        "<item><title>C</title><atom:link rel='enclosure' type='image/jpeg' href='/i.jpg'/></item>"
    )
    entries = assert_same(rss(items, ns=ALL_NS))
    assert entries[0].categories[:3] == ("World", "Politics", "Mrss")
    assert entries[0].link == "https://news.example.com/a?x=1&y=2"
    assert entries[1].image == "https://img.example.com/t.jpg"
    assert entries[2].image == "https://news.example.com/i.jpg"


def test_dates_common_and_odd_shapes() -> None:
    dates = [
        "Mon, 06 Jan 2025 10:00:00 GMT",
        "6 Jan 2025 10:00 +0530",
        "Tue, 07 Jan 2025 23:59:59 -05:00",
        "Wed, 08 Jan 2025 08:00:00 EST",
        "2025-01-09T10:11:12Z",
        "2025-01-09T10:11:12.123456+02:00",
        "2025-01-10",
        "2025-01-10T08:00:00",
        "Sat, Dec 16 2023 02:02:33 PM",
        "mer, 16 nov 2022 00:38:15 +0100",
        "Fri, 31 Feb 2025 10:00:00 GMT",
        "not a date",
        "",
    ]
    items = "".join(
        f"<item><title>t{i}</title><pubDate>{d}</pubDate><dc:date>{d}</dc:date></item>"
        for i, d in enumerate(dates)
    )
    entries = assert_same(rss(items, ns=DC))
    assert entries[0].published is not None and entries[0].published.hour == 10


def test_mojibake_and_cp1252_controls_are_repaired_like_feedparser() -> None:
    mojibake = "CafÃ© crÃ¨me"  # UTF-8 bytes read as Latin-1
    items = (
        f"<item><title>{mojibake}</title></item>"
        "<item><title>quote &#x93;this&#x94; now</title></item>"
        "<item><title>Zürich und Köln</title></item>"
    )
    titles = [e.title for e in assert_same(rss(items))]
    assert titles == ["Café crème", "quote “this” now", "Zürich und Köln"]


def test_atom_feed_with_xml_base_summary_and_content() -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?>'
        b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.org/">'
        b"<title type='html'>Blog &amp;lt;3</title><id>urn:x</id>"
        b"<link rel='self' href='/feed.atom'/><link href='/'/>"
        b"<entry><title>One</title><id>posts/1</id><updated>2025-01-01T00:00:00Z</updated>"
        b"<link rel='alternate' type='text/html' href='posts/1.html'/>"
        b"<summary>short</summary><content type='html'>&lt;p&gt;longer body&lt;/p&gt;</content>"
        b"<category term='t1' label='T1'/><author><name>Ann</name></author></entry>"
        b"<entry xml:base='https://other.example.org/x/'><title type='text'>a &lt;b&gt;</title>"
        b"<id>tag:example.org,2025:2</id><published>2025-01-02T00:00:00+01:00</published>"
        b"<link href='two'/><content>plain</content><summary>later summary</summary></entry>"
        b"</feed>"
    )
    entries = assert_same(body)
    assert entries[0].link == "https://blog.example.org/posts/1.html"
    assert entries[1].link == "https://other.example.org/x/two"
    assert entries[1].title == "a <b>"


def test_rss10_and_wide_encodings() -> None:
    body = (
        '<?xml version="1.0" encoding="iso-8859-1"?>'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<channel rdf:about="https://r.example.com/"><title>R\xe9sum\xe9</title>'
        "<link>https://r.example.com/</link></channel>"
        '<item rdf:about="https://r.example.com/1"><title>Caf\xe9</title>'
        "<link>https://r.example.com/1</link><dc:date>2025-01-01T00:00:00Z</dc:date></item>"
        "</rdf:RDF>"
    ).encode("iso-8859-1")
    entries = assert_same(body)
    assert entries[0].title == "Café" and entries[0].guid == "https://r.example.com/1"
    utf16 = rss("<item><title>Ünïcode</title></item>").decode().replace("utf-8", "utf-16")
    assert_same(utf16.encode("utf-16"))


def test_georss_leaves_in_the_feed_and_in_items_change_nothing() -> None:
    entries = assert_same(
        rss(
            "<item><title>A</title><georss:point>1 2</georss:point>"
            "<georss:featurename>Here</georss:featurename></item>",
            channel="<georss:box>1 2 3 4</georss:box>",
            ns='xmlns:georss="http://www.georss.org/georss"',
        )
    )
    assert [e.title for e in entries] == ["A"]


# --- what the fast path refuses ---------------------------------------------------------------

DECLINED = {
    "unclosed element": rss("<item><title>A</item>"),
    "invalid character reference": rss("<item><title>A&#2;B</title></item>"),
    # feedparser keeps the control character in the guid, and so in the entry's key.
    "control character in a guid": rss("<item><title>A</title><guid>g\x1f1</guid></item>"),
    "undeclared prefix": rss("<item><title>A</title><x:y>1</x:y></item>"),
    "doctype": b'<!DOCTYPE rss SYSTEM "http://127.0.0.1:1/rss.dtd">'
    + rss("<item><title>A</title></item>"),
    "markup inside a title": rss("<item><title>A <b>bold</b></title></item>"),
    "base64 content": rss(
        "<item><title>A</title><description mode='base64'>QUJD</description></item>"
    ),
    "xhtml content": (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>F</title><entry><title>A</title>'
        b'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div>'
        b"</content></entry></feed>"
    ),
    "georss with children": rss(
        "<item><title>A</title><georss:where><gml:Point><gml:pos>1 2</gml:pos></gml:Point>"
        "</georss:where></item>",
        ns='xmlns:georss="http://www.georss.org/georss" xmlns:gml="http://www.opengis.net/gml"',
    ),
    "prefix bound twice": (
        b'<rss version="2.0" xmlns:m="http://search.yahoo.com/mrss/"><channel><title>T</title>'
        b'<item xmlns:m="http://example.com/m"><title>A</title><m:x>1</m:x></item>'
        b"</channel></rss>"
    ),
    "unknown root": b"<html><body><p>hello</p></body></html>",
    "atom 0.3": b'<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>T</title></feed>',
    "mislabelled charset": (b"<rss version='2.0'><channel><title>Caf\xe9</title></channel></rss>"),
}


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_documents_the_fast_path_refuses_still_parse_like_feedparser(name: str) -> None:
    body = DECLINED[name]
    assert not _fast_taken(body)
    try:
        fast, fast_entries, slow, slow_entries = _both(body)
    except ParseError:
        with pytest.raises(ParseError):
            parse_document(body, url=URL, fast=False)
        return
    assert _meta(fast) == _meta(slow)
    assert fast_entries == slow_entries


@pytest.mark.parametrize("content_type", ["text/html", "text/plain", "text/xml"])
def test_non_xml_or_charsetless_content_types_fall_back(content_type: str) -> None:
    body = rss("<item><title>Zürich</title></item>")
    assert not _fast_taken(body, content_type=content_type)
    fast, fast_entries, slow, slow_entries = _both(body, content_type=content_type)
    assert (_meta(fast), fast_entries) == (_meta(slow), slow_entries)


def test_entities_are_never_expanded_nor_external_files_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    external = (
        f'<!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<rss version='2.0'><channel><title>&x;</title><item><title>&x;</title></item>"
        "</channel></rss>"
    ).encode()
    with pytest.raises(ParseError, match="declares XML entities"):
        parse_document(external, url=URL)
    # Straight to the fast path, without parse.py's refusal in front: the DOCTYPE is declined
    # before lxml sees it, and lxml itself is told not to resolve or fetch anything.
    assert parse_fast(external, {"encoding": "utf-8"}, url=URL) is None
    bomb = (
        b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<rss version='2.0'><channel><item><title>&b;&b;&b;</title></item></channel></rss>"
    )
    assert parse_fast(bomb, {"encoding": "utf-8"}, url=URL) is None


# --- not well-formed documents the fast path repairs --------------------------------------------


def atom(entries: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>World</title>{entries}</feed>"
    ).encode()


REPAIRED = {
    "bare ampersands": rss(
        "<item><title>Q&A & more</title><link>https://n.example.com/s?a=1&b=2</link></item>"
    ),
    "html entities": rss("<item><title>A&nbsp;B Caf&eacute; Re&colon; x</title></item>"),
    "entity without semicolon": rss("<item><title>AT&T &copy 2025</title></item>"),
    "control characters": rss(
        "<item><title>A\x02B</title><description>c\x1fd</description></item>"
    ),
    "second xml declaration": b"\n" + rss("<item><title>A</title></item>"),
    "script after the root": rss("<item><title>A</title></item>") + b"<script>x</script>",
    "atom html entities": atom(
        "<entry><title>Re&colon; caf&eacute; &amp; co</title><id>urn:x:1</id>"
        "<summary type='html'>&lt;p&gt;A&nbsp;&amp;&hellip;</summary></entry>"
    ),
    "cdata left alone": rss(
        "<item><title>A & B</title><description><![CDATA[<p>x &nbsp; y &amp; z</p>]]>"
        "</description></item>"
    ),
}


def assert_repaired(body: bytes) -> list[Entry]:
    fast, fast_entries, slow, slow_entries = _both(body)
    assert slow.bozo and slow.bozo_message  # feedparser's loose parser read it
    assert _meta(fast) == _meta(slow)  # the same bozo message, found with expat
    assert fast_entries == slow_entries
    return fast_entries


@pytest.mark.parametrize("name", sorted(REPAIRED))
def test_not_well_formed_documents_are_repaired_and_read_like_feedparser(name: str) -> None:
    body = REPAIRED[name]
    assert _fast_taken(body)
    assert assert_repaired(body)


MALFORMED_FRAGMENTS = [
    "<title>Q&A {n} & more</title>",
    "<description>Caf&eacute; &nbsp;{n} &colon; &hellip; &#233;t&#xE9;</description>",
    "<title>AT&T{n} &copy 2025</title>",
    "<description>ctl\x01 char\x1e{n}</description>",
    "<link>https://news.example.com/q?x={n}&y=2</link>",
    "<guid isPermaLink='false'>g&{n}</guid>",
    "<category>R&D {d}</category>",
    "<enclosure url='https://img.example.com/{n}.jpg?a=1&b=2' type='image/jpeg'/>",
    "<author>a{n}@example.com (A &amp B)</author>",
    "<description><![CDATA[<p>kept &nbsp; as &amp; is {n}</p>]]></description>",
]


def test_random_malformed_items_match_feedparser() -> None:
    rng = random.Random(20261128)
    repaired = 0
    for _ in range(60):
        items = []
        for n in range(rng.randint(1, 4)):
            parts = rng.sample(FRAGMENTS, rng.randint(0, 5))
            parts += rng.sample(MALFORMED_FRAGMENTS, rng.randint(1, 3))
            rng.shuffle(parts)
            d = rng.randint(1, 9)
            items.append("<item>" + "".join(p.format(n=n, d=d) for p in parts) + "</item>")
        body = rss("".join(items), ns=ALL_NS)
        if rng.random() < 0.3:
            body = b"\n" + body + b"<script>junk()</script>"
        repaired += _fast_taken(body)
        assert_repaired(body)
    assert repaired >= 50  # the repairs do apply, not only the fallback


# --- random combinations ------------------------------------------------------------------------

FRAGMENTS = [
    "<title>Title {n} &amp; co</title>",
    "<title>&lt;em&gt;Shout&lt;/em&gt; {n}</title>",
    "<link>https://news.example.com/s/{n}?a=1&amp;b=2</link>",
    "<link>/rel/{n}</link>",
    "<link></link>",
    "<guid>https://news.example.com/g/{n}</guid>",
    "<guid isPermaLink='false'>id-{n}</guid>",
    "<guid>rel-{n}</guid>",
    "<description>Plain description {n}</description>",
    "<description><![CDATA[<p>Html <b>description</b> {n}</p>]]></description>",
    "<content:encoded><![CDATA[<div>Encoded content {n}, longer than most</div>]]>"
    "</content:encoded>",
    "<media:description>Media description {n} that is fairly long indeed</media:description>",
    "<media:title>Media title {n}</media:title>",
    "<dc:title>DC title {n}</dc:title>",
    "<pubDate>Mon, 0{d} Jan 2025 1{d}:00:00 +0100</pubDate>",
    "<dc:date>2025-02-0{d}T0{d}:00:00Z</dc:date>",
    "<atom:updated>2025-03-0{d}T00:00:00-02:00</atom:updated>",
    "<author>a{n}@example.com (Author {n})</author>",
    "<dc:creator>Creator {n}</dc:creator>",
    "<category>Cat {d}</category>",
    "<category domain='x'>Dom {d}</category>",
    "<enclosure url='https://img.example.com/{n}.jpg' type='image/jpeg'/>",
    "<media:content url='https://img.example.com/m{n}.jpg' medium='image'/>",
    "<media:thumbnail url='https://img.example.com/t{n}.jpg'/>",
    "<media:group><media:title>G {n}</media:title>"
    "<media:content url='https://v.example.com/{n}.mp4' type='video/mp4'/></media:group>",
    "<comments>https://news.example.com/c/{n}</comments>",
    "<source url='https://src.example.com/'>Source</source>",
    "<image>https://img.example.com/i{n}.png</image>",
    "<atom:link href='https://news.example.com/alt/{n}'/>",
    "<atom:link rel='enclosure' type='image/png' href='/e{n}.png'/>",
]


def test_random_item_combinations_match_feedparser() -> None:
    rng = random.Random(20250601)
    for _ in range(60):
        items = []
        for n in range(rng.randint(1, 4)):
            parts = rng.sample(FRAGMENTS, rng.randint(1, 8))
            d = rng.randint(1, 9)
            items.append("<item>" + "".join(p.format(n=n, d=d) for p in parts) + "</item>")
        assert_same(rss("".join(items), ns=ALL_NS))


def test_urljoin_shortcut_matches_feedparser() -> None:
    rng = random.Random(7)
    alphabet = "ab/?#;:%.=&@[] \t\\Xé0-_~"
    starts = ["http://", "https://", "HTTP://", "https:///", "http://a.example/", "//", ""]
    for _ in range(5000):
        uri = rng.choice(starts) + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        for base in (URL, "http://example.com/a/"):
            assert _urljoin(base, uri) == feedparser_urljoin(base, uri), uri
    assert _urljoin(URL, "https://x.example/a?b=1") == "https://x.example/a?b=1"
    assert _urljoin(URL, "x/y") == urllib.parse.urljoin(URL, "x/y")
