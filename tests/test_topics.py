"""Tests for the topic query language: parsing, errors, matching, explanations, properties."""

from __future__ import annotations

import json
import re
import string
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import QueryError
from bot.topics import (
    MatchDoc,
    PreparedDoc,
    Query,
    TopicMatcher,
    fold,
    parse_query,
    prepare,
    tokenize,
    validate_topic_name,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PROPS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def hit(
    query: str, title: str = "", summary: str = "", feed: str = "", cats: tuple[str, ...] = ()
) -> bool:
    return parse_query(query).matches(MatchDoc(title, summary, feed, cats))


def error(query: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        parse_query(query)
    assert info.value.query == query
    return info.value


# --- canonical form ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ('nato OR "north atlantic" OR alliance', 'nato OR "north atlantic" OR alliance'),
        (
            "title:(summit AND (eu OR nato)) NOT category:sport",
            "title:(summit AND (eu OR nato)) AND NOT category:sport",
        ),
        ("nato -sport", "nato AND NOT sport"),
        ('-"world cup" -(a OR b)', 'NOT "world cup" AND NOT (a OR b)'),
        ("NATO and Otan", "nato AND and AND otan"),  # lower-case operators are words
        ("a or b", "a AND or AND b"),
        ("not", "not"),
        ("a b OR c d", "a AND b OR c AND d"),  # AND binds tighter than OR
        ("(a OR b) c", "(a OR b) AND c"),
        ("NOT a b", "NOT a AND b"),  # NOT binds tighter than AND
        ("NOT (a b)", "NOT (a AND b)"),
        ("NOT NOT x", "x"),
        ("--x", "x"),
        ("((a))", "a"),
        ("a AND (b AND c)", "a AND b AND c"),
        ("Défense*", "defense*"),
        ("north-atl*", "north-atl*"),
        ("g-7", '"g 7"'),
        ("U.S.", '"u s"'),
        ('"NATO"', "nato"),
        ("TITLE:Nato", "title:nato"),
        ('summary:"Sécurité  Européenne"', 'summary:"securite europeenne"'),
        ("title:(summary:x)", "summary:x"),  # the innermost scope wins
        ("title:(NOT x)", "title:(NOT x)"),
        ("10:30", '"10 30"'),
        ("nato,", "nato"),
        ('a"b"', "a AND b"),
    ],
)
def test_canonical_form(query: str, canonical: str) -> None:
    q = parse_query(query)
    assert str(q) == canonical
    assert q.source == query
    assert parse_query(canonical) == q
    assert str(parse_query(canonical)) == canonical


# --- errors -----------------------------------------------------------------------------------

ANY = "a word, a quoted phrase or a group in parentheses"


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ("", 0, "the query is empty: type at least one word"),
        ("   ", 0, "the query is empty: type at least one word"),
        ("nato AND", 5, f"AND must be followed by {ANY}"),
        ("(nato OR)", 6, f"OR must be followed by {ANY}"),
        ("a OR OR b", 2, f"OR must be followed by {ANY}"),
        ("nato NOT", 5, f"NOT must be followed by {ANY}"),
        ("AND nato", 0, "AND must go between two words, phrases or groups"),
        ("(OR x)", 1, "OR must go between two words, phrases or groups"),
        ("x ()", 2, "empty parentheses: put a word or phrase inside"),
        ("((x) (", 5, "this ( is never closed: add a matching )"),
        ("(a (b)", 0, "this ( is never closed: add a matching )"),
        ("nato)", 4, "this ) has no matching ("),
        ("(a)) (b", 3, "this ) has no matching ("),
        (
            'nato "north atlantic',
            5,
            'this quote is never closed: add a matching " after the phrase',
        ),
        ('a ""', 2, "empty phrase: put some words between the quotes"),
        ('a " ,. "', 2, "empty phrase: put some words between the quotes"),
        ("x foo:bar", 2, 'unknown field "foo:"; the fields are title, summary, feed, category'),
        ("Body:(x)", 0, 'unknown field "body:"; the fields are title, summary, feed, category'),
        ("title: nato", 0, f"title: must be directly followed by {ANY}, like title:nato"),
        ("x feed:", 2, f"feed: must be directly followed by {ANY}, like feed:nato"),
        ("de*", 0, "put at least 3 letters or digits directly before *"),
        ("x nato-*", 2, "put at least 3 letters or digits directly before *"),
        ("*", 0, "put at least 3 letters or digits directly before *"),
        ("x *nato", 2, "* can only go at the end of a word, like defen* for defence or defense"),
        ("def**", 3, "* can only go at the end of a word, like defen* for defence or defense"),
        ("nato - sport", 5, "- must be directly followed by the word to exclude, like -sport"),
        ("(nato -)", 6, "- must be directly followed by the word to exclude, like -sport"),
        ("x &", 2, '"&" has no letters or digits to search for; use AND, OR or NOT to combine'),
    ],
)
def test_errors(query: str, position: int, message: str) -> None:
    exc = error(query)
    assert (exc.position, exc.message) == (position, message)
    assert str(exc) == f"{message} at position {position + 1}"


def test_error_pointer_marks_the_position() -> None:
    assert error("nato AND").pointer() == "nato AND\n     ^"


def test_limits_are_inclusive() -> None:
    long_ok = "x" * 500
    assert str(parse_query(long_ok)) == long_ok
    exc = error("x" * 501)
    assert (exc.position, exc.message) == (500, "the query is too long: at most 500 characters")

    assert len(str(parse_query(" ".join(["ab"] * 64))).split(" AND ")) == 64
    exc = error(" ".join(["ab"] * 65))
    assert exc.position == 64 * 3
    assert exc.message == "too many words and phrases: a query can have at most 64"

    assert str(parse_query("(" * 16 + "x" + ")" * 16)) == "x"
    exc = error("a " + "(" * 17 + "x" + ")" * 17)
    assert (exc.position, exc.message) == (18, "too many nested parentheses: at most 16 levels")


def test_long_negation_chains_do_not_exhaust_the_stack() -> None:
    assert str(parse_query("-" * 400 + "x")) == "x"
    assert str(parse_query("NOT " * 121 + "x")) == "NOT x"


# --- matching ---------------------------------------------------------------------------------


def test_words_match_whole_tokens_only() -> None:
    assert hit("nato", "NATO summit opens")
    assert hit("nato", "Leaders praise NATO's resolve")  # NATO's is the words "nato s"
    assert not hit("nato", "Senator speaks")
    assert not hit("nato", "The natos")
    assert not hit("nato", "donatorship")
    assert hit("U.S.", "U.S. troops")
    assert hit('"u s"', "U.S. troops")
    assert not hit("us", "U.S. troops")  # U.S. is the two words "u s"
    assert not hit("us", "USA troops")


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("securite", "Sécurité européenne"),
        ("Sécurité", "SECURITE"),
        ("STRASSE", "Straße gesperrt"),
        ("straße", "STRASSE"),
        ("zurich", "Zürich"),
        ("ﬁnance", "FINANCE"),  # compatibility ligature
        ("istanbul", "İstanbul"),
        ("ΣΟΦΙΑ", "σοφία"),
        ("2", "²"),
    ],
)
def test_case_and_diacritics_insensitive(query: str, text: str) -> None:
    assert hit(query, text)
    assert hit(f'"x {query}"', f"X, {text}")


def test_phrases_match_consecutive_words_across_punctuation() -> None:
    assert hit('"north atlantic"', "The North-Atlantic alliance")
    assert hit("north-atlantic", "north atlantic")
    assert hit("north-atlantic", "North. Atlantic")
    assert not hit('"north atlantic"', "Atlantic north")
    assert not hit('"north atlantic"', "north of the atlantic")
    assert hit("g-7", "G7 and G-7 summit") and not hit("g-7", "G7 summit")
    assert hit('"the the cat"', "the the the the cat")
    assert not hit('"the the cat"', "the cat the the dog")


def test_phrases_do_not_span_field_or_category_boundaries() -> None:
    assert not hit('"north atlantic"', "Up north", "Atlantic storms")
    assert not hit('"north atlantic"', "x", cats=("north", "atlantic"))
    assert hit('"north atlantic"', "x", cats=("world", "North Atlantic"))


def test_prefix_terms() -> None:
    for word in ("defence", "Defense", "DEFENDING", "defen"):
        assert hit("defen*", f"EU {word} pact")
    assert not hit("defen*", "undefended")
    assert not hit("defen*", "def")
    assert hit("north-atl*", "North Atlantic Treaty")
    assert not hit("north-atl*", "North Pacific")
    assert not hit("north-atl*", "Atlantic north")


def test_scopes() -> None:
    doc = MatchDoc("NATO summit", "Leaders meet in Vilnius", "World News", ("Politics", "Europe"))
    assert parse_query("title:nato").matches(doc)
    assert not parse_query("summary:nato").matches(doc)
    assert parse_query("summary:vilnius").matches(doc)
    assert not parse_query("title:vilnius").matches(doc)
    assert parse_query("category:europe").matches(doc)
    assert parse_query("europe").matches(doc)  # unscoped includes categories
    assert parse_query("feed:world").matches(doc)
    assert not parse_query("world").matches(doc)  # ... but not the feed name
    assert parse_query('feed:"world news"').matches(doc)
    assert parse_query("title:(nato summit)").matches(doc)
    assert not parse_query("title:(nato vilnius)").matches(doc)
    assert parse_query("title:(nato summary:vilnius)").matches(doc)
    assert parse_query("title:nato vilnius").matches(doc)  # the scope covers one operand


def test_boolean_precedence() -> None:
    # NOT a b == (NOT a) AND b, not NOT (a AND b)
    assert not hit("NOT a b", "c")
    assert hit("NOT (a b)", "c")
    assert hit("NOT a b", "b")
    # a OR b c == a OR (b AND c)
    assert hit("a OR b c", "a")
    assert not hit("a OR b c", "b")
    assert hit("(a OR b) c", "b c") and not hit("(a OR b) c", "a")
    assert hit("nato -sport", "NATO news") and not hit("nato -sport", "NATO sport")
    q = "title:(summit AND (eu OR nato)) NOT category:sport"
    assert hit(q, "EU summit", cats=("politics",))
    assert not hit(q, "EU summit", cats=("Sport",))
    assert not hit(q, "Summit", "eu")


def test_explain_lists_hits_by_field() -> None:
    q = parse_query('(nato OR "north atlantic" OR defen*) -sport')
    doc = MatchDoc(
        "NATO meets", "A North-Atlantic defence and defending pact", "NATO feed", ("NATO",)
    )
    assert q.explain(doc) == [
        'title: "nato"',
        'category: "nato"',
        'summary: "north atlantic"',
        'summary: "defence"',
        'summary: "defending"',
    ]
    assert q.explain(MatchDoc("NATO sport")) == []
    assert q.explain(MatchDoc("weather")) == []
    # Only the branch that made the query true is reported.
    assert parse_query("(a b) OR c").explain(MatchDoc("a c")) == ['title: "c"']
    assert parse_query("NOT sport").explain(MatchDoc("x")) == ["none of the excluded words appear"]
    assert parse_query("feed:nato").explain(doc) == ['feed: "nato"']


def test_prepared_doc_is_reusable_and_equivalent() -> None:
    doc = MatchDoc("Défense: l'OTAN", "summit", categories=("Monde",))
    prepared = prepare(doc)
    assert isinstance(prepared, PreparedDoc)
    for text in ("otan", "defense", "monde", "title:l", "NOT summit", "category:otan"):
        q = parse_query(text)
        assert q.matches(prepared) == q.matches(doc)
        assert q.explain(prepared) == q.explain(doc)


def test_fold_and_tokenize() -> None:
    assert fold("Sécurité") == "securite"
    assert tokenize("NATO's north-atlantic U.S. ΣΟΦΙΑ straße") == [
        "nato",
        "s",
        "north",
        "atlantic",
        "u",
        "s",
        "σοφια",
        "strasse",
    ]
    assert tokenize("snake_case 3.5%") == ["snake", "case", "3", "5"]
    assert tokenize("भारत") == ["भारत"]  # spacing vowel signs stay inside the word


def test_query_equality_is_by_canonical_form() -> None:
    assert parse_query("NATO -Sport") == parse_query("nato AND NOT sport")
    assert hash(parse_query("a  b")) == hash(parse_query("a AND b"))
    assert parse_query("a b") != parse_query("a OR b")
    assert repr(parse_query("a  b")) == "Query('a AND b')"


# --- topic matcher and names ------------------------------------------------------------------


def test_topic_matcher_returns_sorted_names() -> None:
    matcher = TopicMatcher(
        {"zeta": "nato", "alpha": parse_query("title:summit"), "mid": "sport", "beta": "otan*"}
    )
    assert matcher.match(MatchDoc("NATO summit", "Otanland")) == ("alpha", "beta", "zeta")
    assert matcher.match(prepare(MatchDoc("sport"))) == ("mid",)
    assert matcher.match(MatchDoc("weather")) == ()
    assert sorted(matcher.topics) == ["alpha", "beta", "mid", "zeta"]
    assert matcher.topics["zeta"] == parse_query("nato")


def test_topic_matcher_names_the_bad_topic() -> None:
    with pytest.raises(QueryError) as info:
        TopicMatcher({"ok": "nato", "broken": "nato AND"})
    assert info.value.message == f'topic "broken": AND must be followed by {ANY}'
    assert (info.value.query, info.value.position) == ("nato AND", 5)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("NATO", "nato"), ("  eu-summit_2 ", "eu-summit_2"), ("x", "x"), ("a" * 32, "a" * 32)],
)
def test_valid_topic_names(name: str, canonical: str) -> None:
    assert validate_topic_name(name) == canonical


@pytest.mark.parametrize("name", ["", "   ", "a" * 33, "eu summit", "défense", "nato!", "a.b"])
def test_invalid_topic_names(name: str) -> None:
    with pytest.raises(ValueError, match="is not a valid topic name: use 1 to 32 characters"):
        validate_topic_name(name)


# --- properties -------------------------------------------------------------------------------

QUERY_PIECES = [
    "AND", "OR", "NOT", "(", ")", '"', "-", "*", ":", " ", " ", " ", "title:", "summary:",
    "feed:", "category:", "foo:", "nato", "North", "atlantic", "défense", "g-7", "defen*",
    "and", "ß", "İ", "\u0301", "&", ",", "'", "\t", "①", "\x00", "\ud800", "𝔑",
]  # fmt: skip
query_soup = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(QUERY_PIECES), max_size=30).map("".join),
)

VOCAB = ["nato", "NATO's", "north", "Atlantic", "défense", "defending", "senator", "sport", "eu"]
SEPARATORS = [" ", "-", ", ", ". ", "'", "/"]


PIECES = [w + sep for w in VOCAB for sep in SEPARATORS]


def texts() -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(PIECES), max_size=6).map("".join)


docs = st.builds(
    MatchDoc,
    title=texts(),
    summary=texts(),
    feed=texts(),
    categories=st.lists(texts(), max_size=3).map(tuple),
)

leaves = st.one_of(
    st.sampled_from([*VOCAB[:6], '"north atlantic"', "north-atl*", "defen*", "Senat*", "sport"]),
)


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda p: f"{p[0]} {p[1]}"),
        pair.map(lambda p: f"{p[0]} AND {p[1]}"),
        pair.map(lambda p: f"{p[0]} OR {p[1]}"),
        children.map(lambda c: f"NOT {c}"),
        children.map(lambda c: f"-{c}"),
        children.map(lambda c: f"({c})"),
        st.tuples(st.sampled_from(["title", "summary", "feed", "category"]), children).map(
            lambda p: f"{p[0]}:({p[1]})"
        ),
    )


valid_queries = st.recursive(leaves, combine, max_leaves=12)


def check_round_trip(q: Query, sample: list[MatchDoc]) -> None:
    again = parse_query(str(q))
    assert str(again) == str(q)
    for doc in sample:
        assert again.matches(doc) == q.matches(doc)
        assert again.explain(doc) == q.explain(doc)


@PROPS
@given(query_soup, st.lists(docs, max_size=3))
def test_any_text_parses_or_raises_query_error(text: str, sample: list[MatchDoc]) -> None:
    try:
        q = parse_query(text)
    except QueryError as exc:
        assert 0 <= exc.position <= len(text)
        assert exc.message and exc.query == text
        return
    check_round_trip(q, sample)


@PROPS
@given(valid_queries, st.lists(docs, min_size=1, max_size=4))
def test_canonical_round_trip(text: str, sample: list[MatchDoc]) -> None:
    check_round_trip(parse_query(text), sample)


def _plain(ch: str) -> bool:
    # Letters/digits whose folded form is letters/digits only (a circled or parenthesized digit
    # folds to "(1)", whose brackets are word boundaries).
    return tokenize(ch) == [fold(ch)]


word_chars = st.characters(categories=["L", "N"]).filter(_plain)
single_words = st.text(word_chars, min_size=1, max_size=8).filter(
    lambda w: w not in {"AND", "OR", "NOT"}
)
punctuation = st.text(
    st.characters(categories=["P", "Z", "S"]).filter(lambda c: c not in '"' and not tokenize(c)),
    min_size=1,
    max_size=4,
)
alnum_runs = st.text(word_chars, min_size=1, max_size=4)


@PROPS
@given(single_words, punctuation, punctuation, st.sampled_from(["title", "summary", "categories"]))
def test_word_matches_when_surrounded_by_punctuation(
    word: str, before: str, after: str, field: str
) -> None:
    text = before + word + after
    doc = {
        "title": MatchDoc(text),
        "summary": MatchDoc("x", summary=text),
        "categories": MatchDoc("x", categories=("y", text)),
    }[field]
    q = parse_query(word)
    assert q.matches(doc)
    assert q.explain(doc)


@PROPS
@given(single_words, alnum_runs, alnum_runs, st.booleans(), st.booleans())
def test_word_never_matches_inside_a_longer_word(
    word: str, before: str, after: str, use_before: bool, use_after: bool
) -> None:
    longer = (before if use_before or not use_after else "") + word + (after if use_after else "")
    q = parse_query(word)
    assert not q.matches(MatchDoc(f"- {longer} -", longer, categories=(longer,)))


# --- real-world data ---------------------------------------------------------------------------


@pytest.mark.shared
def test_real_headlines_agree_with_a_simple_ascii_oracle() -> None:
    path = SHARED / "stories" / "data.jsonl"
    if not path.exists():
        pytest.skip(f"shared real-world data not found at {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines[::2]]  # half the corpus keeps the test quick
    docs = [MatchDoc(r["title"], r["description"] or "", r["publisher"] or "") for r in rows]
    words = ["fed", "obama", "apple", "ukraine", "gm", "us", "china", "trump", "climate"]
    matcher = TopicMatcher({w: w for w in words} | {"phrase": '"white house"'})

    started = time.perf_counter()
    prepared = [prepare(d) for d in docs]
    results = [matcher.match(p) for p in prepared]
    elapsed = time.perf_counter() - started

    splitter = re.compile(f"[^{string.ascii_letters}{string.digits}]+")
    checked = 0
    for doc, found in zip(docs, results, strict=True):
        if not (doc.title + doc.summary).isascii():
            continue
        checked += 1
        expected = set()
        for text in (doc.title, doc.summary):
            tokens = [t.lower() for t in splitter.split(text) if t]
            expected |= {w for w in words if w in tokens}
            if any(tokens[i : i + 2] == ["white", "house"] for i in range(len(tokens))):
                expected.add("phrase")
        assert set(found) == expected, doc
    assert checked > 5_000
    assert sum("fed" in r for r in results) > 10
    assert sum("phrase" in r for r in results) > 10
    # Generous bound: 16k stories x 10 topics on a shared 2-core machine.
    assert elapsed < 10, elapsed
