"""Tests for bot.normalize: text cleaning, link canonicalization, identity keys."""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.normalize import (
    TRACKING_PARAMS,
    absolute_http_url,
    clean_text,
    entry_key,
    fold_title,
    html_to_text,
    normalize_entry,
    normalize_feed,
    normalize_link,
)
from bot.types import ParsedFeed, RawEntry

FEED = "https://news.example.com/feeds/world.xml"
FORBIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2060\ufeff\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


# --- html_to_text / clean_text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<p>a</p><p>b</p>", "a b"),
        ("one<br>two<br/>three", "one two three"),
        ("<ul><li>x</li><li>y</li></ul>", "x y"),
        ("foo<b>bar</b><span>baz</span>", "foobarbaz"),
        ("<script>alert('x')</script>visible", "visible"),
        ("<style>p { color: red }</style>visible", "visible"),
        ("<noscript><img src=x>tracking</noscript>visible", "visible"),
        ("<template><p>hidden</p></template>visible", "visible"),
        ("<SCRIPT type='text/javascript'>var a = '<p>';</SCRIPT>ok", "ok"),
        ("Tom &amp; Jerry &lt;3 &#8217;s &#x41; &eacute;&nbsp;x", "Tom & Jerry <3 ’s A é x"),
        ("AT&T and a & b", "AT&T and a & b"),
        ("a\x00b\x01c\x7fd\x85e\x9ff", "abcd ef"),
        ("tab\there\nnew\r\nline", "tab here new line"),
        ("zero\u200bwidth\u200d\ufeffjoin\u2060er", "zerowidthjoiner"),
        ("bidi\u202etxt.exe\u202c \u2066iso\u2069", "biditxt.exe iso"),
        ("e\u0301", "é"),  # NFC
        ("  lots   of \n\n  space  ", "lots of space"),
        ("<![CDATA[inside]]> cdata", "inside cdata"),
        ("<!-- comment -->after", "after"),
        ("x < y and y > z", "x < y and y > z"),
        ("", ""),
    ],
)
def test_html_to_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


def test_html_to_text_none_and_malformed_markup() -> None:
    assert html_to_text(None) == ""
    for junk in [
        "<div <p>unclosed <a href='x",
        "<<<>>>",
        "</p></div></notopened>text",
        "<![if !IE]>x<![endif]>",
        "<!DOCTYPE html><html><body><p>deep" + "<div>" * 5000,
        "&#99999999999; &#0; &#xD800; &bogus; &",
        "<script>never closed",
        "<a title='>'>quoted gt</a>",
    ]:
        result = html_to_text(junk)
        assert isinstance(result, str)
        assert not FORBIDDEN.search(result)
    assert html_to_text("<a title='>'>quoted gt</a>") == "quoted gt"
    # html.parser raises AssertionError on unknown marked sections: the regex fallback answers.
    assert html_to_text("a<![zz[ b ]]>c <p>d</p> &amp;\x00") == "a c d &"
    assert html_to_text("<script>never closed") == ""


def test_html_to_text_caps_on_a_word_boundary() -> None:
    text = html_to_text("<p>" + "word " * 100 + "</p>", limit=52)
    assert len(text) <= 52
    assert text.endswith("word…")
    assert html_to_text("short", limit=52) == "short"
    assert html_to_text("x" * 100, limit=10) == "x" * 9 + "…"


def test_html_to_text_on_a_huge_document_stops_early_and_marks_the_cut() -> None:
    huge = "<div><p>" + "lorem ipsum dolor sit amet " * 200_000 + "</p></div>"  # ~5 MB
    text = html_to_text(huge, limit=500)
    assert len(text) <= 500 and text.endswith("…")
    # Whitespace collapse can make the kept text shorter than the limit: still marked as cut.
    spaced = "<p>" + ("word" + " " * 200) * 20_000 + "</p>"
    text = html_to_text(spaced, limit=10_000)
    assert text.endswith("…")


def test_clean_text_decodes_entities_but_keeps_angle_brackets() -> None:
    assert clean_text("Fish &amp; chips <b>not a tag</b>", limit=100) == (
        "Fish & chips <b>not a tag</b>"
    )
    assert clean_text("  a\u200b\x00b \n c\u0301 ", limit=100) == "ab ć"
    assert clean_text(None, limit=5) == ""
    assert clean_text("abcdefghij", limit=5) == "abcd…"


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.characters(codec="utf-8"),
            st.sampled_from(["<", ">", "&", ";", "#", "/", "<p>", "</p>", "<script>", "&#1;"]),
            st.sampled_from(["\u200b", "\u202e", "\ufeff", "\x00", "\x1b", "\x85", "\u2066"]),
            st.sampled_from(["&#x200b;", "&#133;", "&#x202E;", "&nbsp;", "&#x1;", "e\u0301"]),
        )
    ).map("".join)
)
def test_html_to_text_never_emits_controls_or_invisibles(markup: str) -> None:
    text = html_to_text(markup, limit=200)
    assert not FORBIDDEN.search(text)
    assert len(text) <= 200
    assert text == text.strip()
    assert "  " not in text
    assert unicodedata.is_normalized("NFC", text)


# --- links ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "key"),
    [
        (
            "HTTP://Example.COM:80/a/b/?utm_source=x&b=2&a=1#frag",
            "https://example.com/a/b?a=1&b=2",
        ),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/", "https://example.com/"),
        ("http://example.com/x", "https://example.com/x"),
        ("https://example.com:443/x", "https://example.com/x"),
        ("https://example.com:8443/x/", "https://example.com:8443/x"),
        ("https://bücher.de/x", "https://xn--bcher-kva.de/x"),
        ("https://user:pw@Example.com./p", "https://example.com/p"),
        ("https://example.com/%7euser/%2f", "https://example.com/~user/%2F"),
        ("https://example.com/caf\u00e9", "https://example.com/caf%C3%A9"),
        ("https://example.com/?fbclid=1&gclid=2&id=7&_ga=3&CMP=share", "https://example.com/?id=7"),
        ("https://example.com/?UTM_Medium=rss&q=a+b", "https://example.com/?q=a+b"),
        ("http://[2001:DB8::1]:80/x", "https://[2001:db8::1]/x"),
    ],
)
def test_normalize_link_examples(url: str, key: str) -> None:
    assert normalize_link(url) == key


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "mailto:someone@example.com",
        "ftp://example.com/file",
        "data:text/html,<script>x</script>",
        "/relative/path",
        "https://",
        "https://ex ample.com/",
        "https://a..b/",
        "https://example.com:99999/",
        "http://[::1",
        "",
    ],
)
def test_normalize_link_rejects(url: str) -> None:
    assert normalize_link(url) is None


@pytest.mark.parametrize(
    ("url", "resolved"),
    [
        ("/a/b", "https://news.example.com/a/b"),
        ("../story.html", "https://news.example.com/story.html"),
        ("item?id=3", "https://news.example.com/feeds/item?id=3"),
        ("//cdn.example.net/p.jpg", "https://cdn.example.net/p.jpg"),
        ("  https://other.example/x  \n", "https://other.example/x"),
        ("HTTPS://Other.example/x", "https://Other.example/x"),
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("http://example.com/a", "http://example.com/a"),
    ],
)
def test_absolute_http_url_resolves(url: str, resolved: str) -> None:
    assert absolute_http_url(url, FEED) == resolved


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "   ",
        "javascript:alert(1)",
        " JavaScript:alert(document.cookie)",
        "java\tscript:alert(1)",
        "data:image/png;base64,AAAA",
        "mailto:a@example.com",
        "ftp://example.com/x",
        "file:///etc/passwd",
        "https://example.com:notaport/",
        "https://" + "a" * 5000 + ".com/",
    ],
)
def test_absolute_http_url_drops_non_http(url: str | None) -> None:
    assert absolute_http_url(url, FEED) is None


def test_absolute_http_url_needs_an_http_base_for_relative_links() -> None:
    assert absolute_http_url("/x", "") is None
    assert absolute_http_url("/x", "file:///tmp/feed.xml") is None


# --- identity -----------------------------------------------------------------------------------


def test_fold_title() -> None:
    assert fold_title("Café — Déjà Vu!") == "cafe deja vu"
    assert fold_title("İSTANBUL, Ünïcode_test") == "istanbul unicode test"
    assert fold_title("ﬁnance 2024") == "finance 2024"
    assert fold_title("  ...  ") == ""


def test_entry_key_precedence() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    by_guid = entry_key("g1", "https://e.com/x", "t", when)
    assert re.fullmatch(r"[0-9a-f]{64}", by_guid)
    assert by_guid == entry_key("g1", "https://e.com/other", "other", None)
    by_link = entry_key(None, "https://e.com/x", "t", when)
    assert by_link != by_guid
    assert by_link == entry_key(None, "https://e.com/x", "u", None)
    by_title = entry_key(None, None, "t", when)
    assert by_title != entry_key(None, None, "t", when + timedelta(days=1))
    assert by_title != entry_key(None, None, "t", None)
    assert entry_key("\ud800", None, "", None) != entry_key("\ud801", None, "", None)


def _entry(**fields: object) -> RawEntry:
    return RawEntry(**fields)  # type: ignore[arg-type]


def test_empty_guid_keys_by_link() -> None:
    raw = _entry(guid="   ", link="/story?utm_source=x", title="Hello")
    entry = normalize_entry(raw, feed_url=FEED)
    assert entry is not None
    assert entry.guid is None
    assert entry.link == "https://news.example.com/story?utm_source=x"
    assert entry.link_key == "https://news.example.com/story"
    assert entry.key == entry_key(None, "https://news.example.com/story", "hello", None)


def test_same_guid_same_key_whatever_else_changes() -> None:
    a = normalize_entry(_entry(guid=" abc ", title="One", link="https://e.com/1"), feed_url=FEED)
    b = normalize_entry(_entry(guid="abc", title="Two", link="https://e.com/2"), feed_url=FEED)
    assert a is not None and b is not None
    assert a.key == b.key
    assert a.guid == "abc"


def test_long_guid_is_stored_truncated_but_hashed_whole() -> None:
    a = normalize_entry(_entry(guid="x" * 2000 + "a", title="t"), feed_url=FEED)
    b = normalize_entry(_entry(guid="x" * 2000 + "b", title="t"), feed_url=FEED)
    assert a is not None and b is not None
    assert a.guid == "x" * 1024
    assert a.key != b.key


def test_normalize_entry_fields() -> None:
    raw = _entry(
        guid="g",
        link="javascript:alert(1)",
        title="<b>Big</b> &amp; <i>bold</i>\u200b",
        summary="<p>short</p>",
        content="<p>the <em>much</em> longer body</p><script>evil()</script>",
        published=datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        author="  Jane\x00 Doe &amp; co " + "x" * 300,
        categories=("World", "world", " WORLD ", "", "Politics", *[f"c{i}" for i in range(40)]),
        image="/img/a.jpg",
    )
    entry = normalize_entry(raw, feed_url=FEED)
    assert entry is not None
    assert entry.link is None and entry.link_key is None  # javascript: dropped
    assert entry.title == "Big & bold"
    assert entry.title_key == "big bold"
    assert entry.summary == "the much longer body"
    assert entry.published == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert entry.author is not None and entry.author.startswith("Jane Doe & co")
    assert len(entry.author) <= 200
    assert entry.categories[:2] == ("World", "Politics")
    assert len(entry.categories) == 20
    assert entry.image == "https://news.example.com/img/a.jpg"


def test_summary_is_the_longer_text_and_capped() -> None:
    raw = _entry(title="t", summary="<p>" + "long words here " * 1000 + "</p>", content="<p>c</p>")
    entry = normalize_entry(raw, feed_url=FEED)
    assert entry is not None
    assert entry.summary.startswith("long words here")
    assert len(entry.summary) <= 10_000 and entry.summary.endswith("…")
    title = normalize_entry(_entry(title="word " * 200), feed_url=FEED)
    assert title is not None and len(title.title) <= 300


def test_published_falls_back_to_updated_and_naive_means_utc() -> None:
    raw = _entry(title="t", updated=datetime(2026, 5, 1, 8, 30))
    entry = normalize_entry(raw, feed_url=FEED)
    assert entry is not None
    assert entry.published == entry.updated == datetime(2026, 5, 1, 8, 30, tzinfo=UTC)


def test_only_a_link_still_normalizes_and_nothing_gives_none() -> None:
    entry = normalize_entry(_entry(link="https://e.com/only"), feed_url=FEED)
    assert entry is not None and entry.title == "" and entry.link == "https://e.com/only"
    assert normalize_entry(
        _entry(guid="g", title="<p> </p>", link="mailto:x@y"), feed_url=FEED
    ) is (None)
    assert normalize_entry(_entry(), feed_url=FEED) is None


def test_title_only_entries_key_on_title_and_date() -> None:
    day = datetime(2026, 3, 1, tzinfo=UTC)
    a = normalize_entry(_entry(title="Daily Digest!", published=day), feed_url=FEED)
    b = normalize_entry(_entry(title="daily   digest", published=day), feed_url=FEED)
    c = normalize_entry(_entry(title="Daily Digest", published=day + timedelta(1)), feed_url=FEED)
    assert a is not None and b is not None and c is not None
    assert a.key == b.key != c.key


def test_normalize_feed_drops_empty_items_and_exact_repeats() -> None:
    parsed = ParsedFeed(
        format="rss20",
        entries=(
            _entry(guid="1", title="a"),
            _entry(),
            _entry(guid="1", title="A"),  # the same item again
            _entry(guid="1", title="a again"),  # a reused guid: a different story, kept
            _entry(guid="2", title="b"),
        ),
    )
    assert [e.title for e in normalize_feed(parsed, feed_url=FEED)] == ["a", "a again", "b"]


# --- properties ----------------------------------------------------------------------------------

_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
_hosts = st.lists(_label, min_size=1, max_size=3).map(lambda ls: ".".join([*ls, "com"]))
_segment = st.lists(
    st.one_of(
        st.characters(codec="utf-8", exclude_characters="/?#"),
        st.sampled_from(["%20", "%7e", "%2F", "%", "~", "+", "=", "&", ".."]),
    ),
    max_size=10,
).map("".join)
_paths = st.lists(_segment, max_size=4).map(lambda segs: "/" + "/".join(segs))
_param_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).filter(
    lambda n: not n.startswith("utm_") and n not in TRACKING_PARAMS
)
_params = st.lists(
    st.tuples(_param_names, st.text(alphabet="abcXYZ019 -.", max_size=6)), max_size=4
)


def _url(scheme: str, host: str, path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["http", "https", "HTTP"]), _hosts, _paths, _params)
def test_normalize_link_is_idempotent(
    scheme: str, host: str, path: str, params: list[tuple[str, str]]
) -> None:
    key = normalize_link(_url(scheme, host, path, params))
    assert key is not None
    assert normalize_link(key) == key


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_normalize_link_idempotent_on_arbitrary_text(tail: str) -> None:
    for url in (tail, "http://" + tail, "https://example.com/" + tail):
        key = normalize_link(url)
        if key is not None:
            assert normalize_link(key) == key


@settings(max_examples=100, deadline=None)
@given(
    _hosts,
    _paths,
    _params,
    st.lists(
        st.tuples(
            st.sampled_from(["utm_source", "utm_medium", "UTM_Campaign", "utm_x", "fbclid"]),
            st.text(alphabet="abc123", max_size=5),
        ),
        min_size=1,
        max_size=3,
    ),
    st.text(alphabet="abcdef-_/=", max_size=10),
    st.randoms(use_true_random=False),
)
def test_tracking_params_fragment_and_host_case_never_change_the_key(
    host: str,
    path: str,
    params: list[tuple[str, str]],
    tracking: list[tuple[str, str]],
    fragment: str,
    rng: random.Random,
) -> None:
    # Whitespace ending a link is trimmed (as browsers do) only when nothing follows it: a path
    # ending in a space is another URL once a query follows, so such paths prove nothing here.
    assume(path == path.rstrip())
    base = _url("https", host, path, params)
    noisy_params = params + tracking
    rng.shuffle(noisy_params)
    mixed_host = "".join(c.upper() if rng.random() < 0.5 else c for c in host)
    variants = [
        _url("https", host, path, noisy_params),
        base + "#" + fragment,
        _url("http", mixed_host, path, noisy_params) + "#" + fragment,
    ]
    expected = normalize_entry(_entry(link=base, title="t"), feed_url=FEED)
    assert expected is not None
    for variant in variants:
        entry = normalize_entry(_entry(link=variant, title="t"), feed_url=FEED)
        assert entry is not None
        assert entry.link_key == expected.link_key
        assert entry.key == expected.key


@given(st.text(alphabet=st.characters(blacklist_characters="<&"), max_size=400))
def test_text_without_markup_skips_the_parser_with_the_same_result(text: str) -> None:
    from bot.normalize import _parsed_text

    assert html_to_text(text, limit=200) == _parsed_text(text, 200)


def test_known_keys_skip_text_extraction_and_say_so() -> None:
    from bot.normalize import known_key, read_feed

    body = (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>W</title>"
        b"<item><title>Old</title><guid>urn:1</guid><description>&lt;p&gt;Old text&lt;/p&gt;"
        b"</description></item>"
        b"<item><title>New</title><guid>urn:2</guid><description>New text</description></item>"
        b"<item><guid>urn:3</guid><description>Only text</description></item>"
        b"</channel></rss>"
    )
    _, full = read_feed(body, url=FEED)
    known = b"".join(known_key(e.key) for e in full)
    _, entries = read_feed(body, url=FEED, known=known[:8] + known[16:])
    assert [(e.title, e.summary, e.text_skipped) for e in entries] == [
        ("Old", "", True),  # nor its author, categories or image
        ("New", "New text", False),
        ("", "Only text", False),  # no title and no link: the text is all it has
    ]
    # Identity is the same either way.
    assert [(e.key, e.title_key, e.link_key) for e in entries] == [
        (e.key, e.title_key, e.link_key) for e in full
    ]
    assert not any(e.text_skipped for e in full)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aZ09-_.é\u00df", max_size=140))
def test_ascii_host_shortcut_agrees_with_the_idna_codec(host: str) -> None:
    from bot.normalize import _HOST_RE, _host_key

    host = host.rstrip(".")
    try:
        expected = host.encode("idna").decode("ascii").lower()
        expected = expected if _HOST_RE.fullmatch(expected) else None
    except UnicodeError:
        expected = None
    if ":" not in host:
        assert _host_key(host) == expected


def test_plain_absolute_urls_are_what_urljoin_returns_unchanged() -> None:
    from urllib.parse import urljoin

    from bot.normalize import PLAIN_ABSOLUTE_URL

    rng = random.Random(11)
    alphabet = "ab/?#;:%.=&@[] \t\\Xé0-_~"
    starts = ["http://", "https://", "HTTP://", "https:///", "http://a.example/", "//", ""]
    plain = 0
    for _ in range(5000):
        url = rng.choice(starts) + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        if PLAIN_ABSOLUTE_URL.fullmatch(url):
            plain += 1
            for base in (FEED, "http://example.com/a/", "https://x.example"):
                assert urljoin(base, url) == url, url
    assert plain > 100


_MARKUP_PIECES = [
    "<p>", "</p>", "<b>", "</b>", "<br/>", "<br />", "<img src='x>y' alt=\"\"/>", "<a href=x/>",
    "<P CLASS=\"a\">", "</DIV >", "word ", "more words. ", "&amp;", "&eacute;", "&#233;",
    "&nbsp", "&", "AT&T ", "<", "<!-- note -->", "<!-- a -- b -->", "<script>x<b></script>",
    "<noscript>n<p>m</noscript>", "<template><i>t</i></template>", "\n", "<!DOCTYPE x>",
    "<![CDATA[c]]>", "</br>", "<style/>", "x" * 3000, "&hellip;" * 5,
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_MARKUP_PIECES), max_size=40),
    st.sampled_from([40, 300, 10_000]),
)
def test_plain_markup_shortcut_gives_what_html_parser_gives(pieces: list[str], limit: int) -> None:
    from bot.normalize import _parsed_text, _plain_text

    value = "".join(pieces)
    fast = _plain_text(value, limit)
    if fast is not None:
        assert fast == _parsed_text(value, limit)


# Pieces the shortcut reads itself; the rest (a stray "<", an odd comment, script, a
# declaration, CDATA) are left to html.parser.
_PLAIN_PIECES = [
    p
    for p in _MARKUP_PIECES
    if p not in {"<", "<!-- a -- b -->", "<script>x<b></script>", "<!DOCTYPE x>", "<![CDATA[c]]>"}
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_PLAIN_PIECES), max_size=40),
    st.sampled_from([40, 300, 10_000]),
)
def test_plain_markup_shortcut_answers_plain_markup_as_html_parser_does(
    pieces: list[str], limit: int
) -> None:
    # The test above only compares what the shortcut chose to answer; this one requires an
    # answer whenever the markup is plain, so a shortcut that declined everything would fail.
    from bot.normalize import _parsed_text, _plain_text

    value = "".join(pieces)
    fast = _plain_text(value, limit)
    assert fast is not None, value[:200]
    assert fast == _parsed_text(value, limit)


def test_plain_markup_shortcut_at_chunk_ends_and_cuts() -> None:
    from bot.normalize import _FEED_CHUNK, _parsed_text, _plain_text

    answered = 0
    for shift in range(0, 48):
        for tail in ("&amp; b", "&eacute;x", "&#233; y", "& b", "<b>bold</b> z", "<p>p</p>"):
            value = "<p>" + "w" * (_FEED_CHUNK - 3 - shift) + tail + " v" * 7000
            for limit in (100, 2000, 10_000):
                fast = _plain_text(value, limit)
                assert fast is not None
                assert fast == _parsed_text(value, limit), (shift, tail, limit)
                answered += 1
    assert answered == 48 * 6 * 3


def test_plain_markup_shortcut_agrees_with_html_parser_on_the_corpus() -> None:
    from pathlib import Path

    from bot.errors import ParseError
    from bot.normalize import SUMMARY_LIMIT, TITLE_LIMIT, _parsed_text, _plain_text
    from bot.parse import parse_document

    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "feeds"
    if not data.is_dir():
        pytest.skip(f"shared feed corpus not found at {data}")
    answered = compared = 0
    for path in sorted(p for p in data.rglob("*") if p.is_file() and p.suffix != ".md"):
        try:
            parsed = parse_document(path.read_bytes(), url=FEED)
        except ParseError:
            continue
        for raw in parsed.entries:
            for value, limit in (
                (raw.title, TITLE_LIMIT),
                (raw.summary, SUMMARY_LIMIT),
                (raw.content, SUMMARY_LIMIT),
            ):
                if value and ("<" in value or "&" in value):
                    compared += 1
                    fast = _plain_text(value, limit)
                    if fast is not None:
                        answered += 1
                        assert fast == _parsed_text(value, limit), (path.name, value[:80])
    assert answered >= 0.95 * compared > 0


@pytest.mark.parametrize("link", ["http://x.com/;", "http://x.com/a;?", "http://x.com/c;#"])
def test_the_feed_s_scheme_does_not_change_an_absolute_link(link: str) -> None:
    """urljoin re-serializes an absolute URL only when it shares the base's scheme (dropping an
    empty ";" or "?"); the link, and so the story's key, must not depend on the feed's scheme."""
    assert absolute_http_url(link, "https://feed.example/rss") == absolute_http_url(
        link, "http://feed.example/rss"
    )
