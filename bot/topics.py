"""Topic query language: parse admin-written queries and match them against stories.

Owns the grammar (terms, "phrases", AND/OR/NOT, ``-`` negation, parentheses, field scopes,
trailing-``*`` prefixes), the text folding used on both sides (NFKD, no combining marks,
casefold, split into letter/digit words), matching, explanations and topic-name validation.
No user input is ever compiled into a regular expression, so matching is ReDoS-safe by
construction and linear in the document size for each query.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from bot.errors import QueryError

__all__ = [
    "FIELDS",
    "MAX_DEPTH",
    "MAX_OPERANDS",
    "MAX_QUERY_LENGTH",
    "MatchDoc",
    "PreparedDoc",
    "Query",
    "TopicMatcher",
    "fold",
    "parse_query",
    "prepare",
    "tokenize",
    "validate_topic_name",
]

MAX_QUERY_LENGTH: Final = 500
MAX_OPERANDS: Final = 64
MAX_DEPTH: Final = 16
MIN_PREFIX: Final = 3
FIELDS: Final = ("title", "summary", "feed", "category")
# Unscoped operands deliberately skip the feed name: a feed called "NATO News" would otherwise
# make every one of its stories match a `nato` topic.
_DEFAULT_FIELDS: Final = ("title", "summary", "category")
_OPERATORS: Final = frozenset({"AND", "OR", "NOT"})
_TOPIC_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


# --- folding and tokenizing ---------------------------------------------------------------------


def _is_dropped(ch: str) -> bool:
    return unicodedata.category(ch) in ("Mn", "Me") or unicodedata.combining(ch) != 0


def _is_word(ch: str) -> bool:
    cat = unicodedata.category(ch)
    # Spacing marks (Mc) are vowel signs in Indic scripts: splitting words on them would break
    # every Hindi or Bengali word apart, so they count as part of the word.
    return cat[0] in "LN" or cat == "Mc"


def _fold_char(ch: str) -> str:
    # Two rounds because casefolding can produce characters that decompose again.
    s = "".join(c for c in unicodedata.normalize("NFKD", ch) if not _is_dropped(c))
    s = "".join(c for c in unicodedata.normalize("NFKD", s.casefold()) if not _is_dropped(c))
    return "".join(c if _is_word(c) else " " for c in s)


class _FoldTable(dict[int, str]):
    """``str.translate`` table filled on demand, so folding runs at C speed once warm.

    Folding is a per-character mapping (NFKD and casefold both are, and every combining mark is
    dropped), which is what makes a translate table exact.
    """

    _LIMIT: Final = 200_000  # bounds memory if a hostile feed walks the whole code space

    def __missing__(self, key: int) -> str:
        value = _fold_char(chr(key))
        if len(self) < self._LIMIT:
            self[key] = value
        return value


_FOLD_TABLE: Final = _FoldTable({cp: _fold_char(chr(cp)) for cp in range(128)})


def fold(text: str) -> str:
    """Fold ``text`` for comparison: no diacritics, casefolded, non-word characters as spaces."""
    return text.translate(_FOLD_TABLE)


def tokenize(text: str) -> list[str]:
    """Split ``text`` into folded words (runs of Unicode letters/digits)."""
    return text.translate(_FOLD_TABLE).split()


# --- documents ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchDoc:
    """The text of one story, as topics see it."""

    title: str
    summary: str = ""
    feed: str = ""
    categories: tuple[str, ...] = ()


class _FieldIndex:
    """One field's words in order (``""`` separates categories) and as a set.

    Building it is a few C-level passes (translate, split, set), which is what keeps preparing
    a story cheap; lookups then use the set or C-speed ``list.index`` scans.
    """

    __slots__ = ("_sorted", "tokens", "words")

    def __init__(self, segments: tuple[str, ...]) -> None:
        if len(segments) == 1:
            tokens = tokenize(segments[0])
        else:
            tokens = []
            for i, segment in enumerate(segments):
                if i:
                    tokens.append("")  # no query word is empty, so phrases never span segments
                tokens.extend(tokenize(segment))
        self.tokens: list[str] = tokens
        self.words: frozenset[str] = frozenset(tokens)
        self._sorted: list[str] | None = None

    def sorted_words(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self.words)
        return self._sorted


class PreparedDoc:
    """A story tokenized and folded once, then reused for every topic."""

    __slots__ = ("doc", "fields")

    def __init__(self, doc: MatchDoc) -> None:
        self.doc = doc
        self.fields: dict[str, _FieldIndex] = {
            "title": _FieldIndex((doc.title,)),
            "summary": _FieldIndex((doc.summary,)),
            "feed": _FieldIndex((doc.feed,)),
            "category": _FieldIndex(doc.categories),
        }

    def __repr__(self) -> str:
        return f"PreparedDoc({self.doc!r})"


def prepare(doc: MatchDoc) -> PreparedDoc:
    """Tokenize ``doc`` once so many queries can be matched against it cheaply."""
    return PreparedDoc(doc)


def _prepared(doc: PreparedDoc | MatchDoc) -> PreparedDoc:
    return doc if isinstance(doc, PreparedDoc) else PreparedDoc(doc)


# --- syntax tree --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Words:
    """A term (one word) or phrase (several); ``prefix`` makes the last word a prefix."""

    words: tuple[str, ...]
    prefix: bool = False

    def find(self, index: _FieldIndex) -> Iterator[str]:
        """Yield the matched text of every distinct hit in ``index``."""
        words, tokens = self.words, index.tokens
        if len(words) == 1:
            if not self.prefix:
                if words[0] in index.words:
                    yield words[0]
                return
            stem, sorted_words = words[0], index.sorted_words()
            i = bisect_left(sorted_words, stem)
            while i < len(sorted_words) and sorted_words[i].startswith(stem):
                yield sorted_words[i]
                i += 1
            return
        n, last = len(words), len(words) - 1
        exact = range(last) if self.prefix else range(n)
        if any(words[k] not in index.words for k in exact):
            return
        # Anchor on the rarest exact word, so a run of a common word ("the the the ...") is not
        # rescanned from every one of its positions.
        anchor = min(exact, key=lambda k: tokens.count(words[k]))
        seen: set[str] = set()
        p = -1
        while True:
            try:
                p = tokens.index(words[anchor], p + 1)
            except ValueError:
                return
            start = p - anchor
            if start < 0 or start + n > len(tokens):
                continue
            window = tuple(tokens[start : start + n])
            if window != words and not (
                self.prefix
                and window[:last] == words[:last]
                and window[last].startswith(words[last])
            ):
                continue
            hit = " ".join(window)
            if hit not in seen:
                seen.add(hit)
                yield hit


@dataclass(frozen=True, slots=True)
class _Scope:
    field: str
    child: _Node


@dataclass(frozen=True, slots=True)
class _Not:
    child: _Node


@dataclass(frozen=True, slots=True)
class _And:
    children: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Or:
    children: tuple[_Node, ...]


_Node = _Words | _Scope | _Not | _And | _Or


def _negate(node: _Node) -> _Node:
    return node.child if isinstance(node, _Not) else _Not(node)


def _scope(field: str, child: _Node) -> _Node:
    # The innermost scope wins, so an outer one around a bare scope is redundant.
    return child if isinstance(child, _Scope) else _Scope(field, child)


def _join(kind: type[_And] | type[_Or], nodes: list[_Node]) -> _Node:
    if len(nodes) == 1:
        return nodes[0]
    flat: list[_Node] = []
    for node in nodes:
        flat.extend(node.children if isinstance(node, kind) else (node,))
    return kind(tuple(flat))


def _evaluate(node: _Node, doc: PreparedDoc, fields: tuple[str, ...]) -> bool:
    if isinstance(node, _Words):
        if len(node.words) == 1 and not node.prefix:  # the common case, without a generator
            return any(node.words[0] in doc.fields[f].words for f in fields)
        return any(next(node.find(doc.fields[f]), None) is not None for f in fields)
    if isinstance(node, _Scope):
        return _evaluate(node.child, doc, (node.field,))
    if isinstance(node, _Not):
        return not _evaluate(node.child, doc, fields)
    if isinstance(node, _And):
        return all(_evaluate(c, doc, fields) for c in node.children)
    return any(_evaluate(c, doc, fields) for c in node.children)


def _witness(node: _Node, doc: PreparedDoc, fields: tuple[str, ...]) -> list[str] | None:
    """Why ``node`` holds: the hit lines, or ``None`` when it does not hold."""
    if isinstance(node, _Words):
        hits = [f'{f}: "{hit}"' for f in fields for hit in node.find(doc.fields[f])]
        return hits or None
    if isinstance(node, _Scope):
        return _witness(node.child, doc, (node.field,))
    if isinstance(node, _Not):
        # An absence is not a hit worth reporting.
        return None if _evaluate(node.child, doc, fields) else []
    lines: list[str] = []
    any_true = False
    for child in node.children:
        sub = _witness(child, doc, fields)
        if sub is None:
            if isinstance(node, _And):
                return None
            continue
        any_true = True
        lines.extend(sub)
    return lines if any_true else None


def _format(node: _Node) -> str:
    if isinstance(node, _Words):
        if node.prefix:
            # Hyphens re-tokenize to the same words and keep the `*` attached to a bare term.
            return "-".join(node.words) + "*"
        if len(node.words) == 1:
            return node.words[0]
        return '"' + " ".join(node.words) + '"'
    if isinstance(node, _Scope):
        inner = _format(node.child)
        return (
            f"{node.field}:{inner}" if isinstance(node.child, _Words) else f"{node.field}:({inner})"
        )
    if isinstance(node, _Not):
        inner = _format(node.child)
        return f"NOT ({inner})" if isinstance(node.child, _And | _Or) else f"NOT {inner}"
    if isinstance(node, _And):
        return " AND ".join(
            f"({_format(c)})" if isinstance(c, _Or) else _format(c) for c in node.children
        )
    return " OR ".join(_format(c) for c in node.children)


# --- lexer --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "(", ")", "word", "phrase", "field", "-", "AND", "OR", "NOT", "end"
    text: str
    pos: int
    end: int


_OPERAND_START: Final = frozenset({"word", "phrase", "(", "field", "-", "NOT"})
_WHAT: Final = "a word, a quoted phrase or a group in parentheses"


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    n, i = len(text), 0
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            toks.append(_Tok(c, c, i, i + 1))
            i += 1
        elif c == '"':
            close = text.find('"', i + 1)
            if close < 0:
                raise QueryError(
                    'this quote is never closed: add a matching " after the phrase', text, i
                )
            toks.append(_Tok("phrase", text[i + 1 : close], i, close + 1))
            i = close + 1
        elif c == "-" and i + 1 < n and not text[i + 1].isspace():
            toks.append(_Tok("-", c, i, i + 1))
            i += 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in '()"':
                j += 1
            run = text[i:j]
            colon = run.find(":")
            if run in _OPERATORS:
                toks.append(_Tok(run, run, i, j))
            elif colon > 0 and run[:colon].isascii() and run[:colon].isalpha():
                toks.append(_Tok("field", run[:colon].lower(), i, i + colon + 1))
                j = i + colon + 1
            else:
                toks.append(_Tok("word", run, i, j))
            i = j
    toks.append(_Tok("end", "", n, n))
    return toks


def _check_parentheses(text: str, toks: list[_Tok]) -> None:
    stack: list[_Tok] = []
    for tok in toks:
        if tok.kind == "(":
            stack.append(tok)
            if len(stack) > MAX_DEPTH:
                raise QueryError(
                    f"too many nested parentheses: at most {MAX_DEPTH} levels", text, tok.pos
                )
        elif tok.kind == ")":
            if not stack:
                raise QueryError("this ) has no matching (", text, tok.pos)
            stack.pop()
    if stack:
        # The innermost unclosed one: nearest to where the user stopped typing.
        raise QueryError("this ( is never closed: add a matching )", text, stack[-1].pos)


# --- parser -------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent; recursion depth is bounded by the parenthesis limit."""

    def __init__(self, text: str, toks: list[_Tok]) -> None:
        self.text = text
        self.toks = toks
        self.i = 0
        self.operands = 0

    def fail(self, message: str, pos: int) -> QueryError:
        return QueryError(message, self.text, pos)

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect_operand_after(self, op: _Tok) -> None:
        if self.peek().kind not in _OPERAND_START:
            raise self.fail(f"{op.text} must be followed by {_WHAT}", op.pos)

    def parse(self) -> _Node:
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":  # only a stray ")" can stop the parse early, and that is checked
            raise self.fail("unexpected text here", tok.pos)
        return node

    def parse_or(self) -> _Node:
        nodes = [self.parse_and()]
        while self.peek().kind == "OR":
            self.expect_operand_after(self.take())
            nodes.append(self.parse_and())
        return _join(_Or, nodes)

    def parse_and(self) -> _Node:
        nodes = [self.parse_unary()]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.expect_operand_after(self.take())
            elif kind not in _OPERAND_START:
                break
            nodes.append(self.parse_unary())
        return _join(_And, nodes)

    def parse_unary(self) -> _Node:
        negations = []
        while self.peek().kind in ("NOT", "-"):
            tok = self.take()
            nxt = self.peek()
            if tok.kind == "-" and nxt.kind not in _OPERAND_START:
                raise self.fail(
                    "- must be directly followed by the word to exclude, like -sport", tok.pos
                )
            if nxt.kind not in _OPERAND_START:
                raise self.fail(f"NOT must be followed by {_WHAT}", tok.pos)
            negations.append(tok)
        node = self.parse_primary()
        # Iterative, and double negations cancel, so long NOT chains cannot exhaust the stack.
        for _ in negations:
            node = _negate(node)
        return node

    def parse_primary(self) -> _Node:
        tok = self.take()
        if tok.kind == "word":
            return self.words(tok, tok.text, quoted=False)
        if tok.kind == "phrase":
            return self.words(tok, tok.text, quoted=True)
        if tok.kind == "(":
            if self.peek().kind == ")":
                raise self.fail("empty parentheses: put a word or phrase inside", tok.pos)
            node = self.parse_or()
            self.take()  # the ")": balance was checked before parsing
            return node
        if tok.kind == "field":
            if tok.text not in FIELDS:
                raise self.fail(
                    f'unknown field "{tok.text}:"; the fields are ' + ", ".join(FIELDS), tok.pos
                )
            nxt = self.peek()
            if nxt.kind not in ("word", "phrase", "(") or nxt.pos != tok.end:
                raise self.fail(
                    f"{tok.text}: must be directly followed by {_WHAT}, like {tok.text}:nato",
                    tok.pos,
                )
            return _scope(tok.text, self.parse_primary())
        if tok.kind in ("AND", "OR"):
            raise self.fail(f"{tok.text} must go between two words, phrases or groups", tok.pos)
        if tok.kind == ")":
            raise self.fail("this ) has no matching (", tok.pos)
        raise self.fail(f"expected {_WHAT} here", tok.pos)  # end of an empty query

    def words(self, tok: _Tok, raw: str, *, quoted: bool) -> _Words:
        self.operands += 1
        if self.operands > MAX_OPERANDS:
            raise self.fail(
                f"too many words and phrases: a query can have at most {MAX_OPERANDS}", tok.pos
            )
        if quoted:
            words = tokenize(raw)
            if not words:
                raise self.fail("empty phrase: put some words between the quotes", tok.pos)
            return _Words(tuple(words))
        prefix = raw.endswith("*")
        stem = raw[:-1] if prefix else raw
        star = stem.find("*")
        if star >= 0:
            raise self.fail(
                "* can only go at the end of a word, like defen* for defence or defense",
                tok.pos + star,
            )
        folded = fold(stem)
        words = folded.split()
        if prefix:
            if not words or folded[-1] == " " or len(words[-1]) < MIN_PREFIX:
                raise self.fail(
                    f"put at least {MIN_PREFIX} letters or digits directly before *", tok.pos
                )
        elif not words:
            if set(raw) == {"-"}:
                raise self.fail(
                    "- must be directly followed by the word to exclude, like -sport", tok.pos
                )
            raise self.fail(
                f'"{raw}" has no letters or digits to search for; use AND, OR or NOT to combine',
                tok.pos,
            )
        return _Words(tuple(words), prefix)


# --- public API ---------------------------------------------------------------------------------


class Query:
    """A parsed topic query. Equal queries have the same canonical form (``str``)."""

    __slots__ = ("_canonical", "_root", "source")

    def __init__(self, source: str, root: _Node) -> None:
        self.source = source
        self._root = root
        self._canonical = _format(root)

    def matches(self, doc: PreparedDoc | MatchDoc) -> bool:
        return _evaluate(self._root, _prepared(doc), _DEFAULT_FIELDS)

    def explain(self, doc: PreparedDoc | MatchDoc) -> list[str]:
        """Which words hit which fields, like ``title: "nato"``; empty when there is no match.

        A prefix term reports the word it hit (``defen*`` gives ``summary: "defence"``).
        """
        lines = _witness(self._root, _prepared(doc), _DEFAULT_FIELDS)
        if lines is None:
            return []
        # A purely negative query (`NOT sport`) matches without any hit to point at.
        return list(dict.fromkeys(lines)) or ["none of the excluded words appear"]

    def __str__(self) -> str:
        return self._canonical

    def __repr__(self) -> str:
        return f"Query({self._canonical!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Query) and other._canonical == self._canonical

    def __hash__(self) -> int:
        return hash(self._canonical)


def parse_query(text: str) -> Query:
    """Parse a topic query; raises :class:`QueryError` (and nothing else) when it is invalid."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(
            f"the query is too long: at most {MAX_QUERY_LENGTH} characters", text, MAX_QUERY_LENGTH
        )
    if not text.strip():
        raise QueryError("the query is empty: type at least one word", text, 0)
    toks = _lex(text)
    _check_parentheses(text, toks)
    return Query(text, _Parser(text, toks).parse())


class TopicMatcher:
    """A fixed set of named topics, matched together against each story."""

    __slots__ = ("_topics",)

    def __init__(self, topics: Mapping[str, Query | str]) -> None:
        compiled: list[tuple[str, Query]] = []
        for name, query in topics.items():
            if isinstance(query, str):
                try:
                    query = parse_query(query)
                except QueryError as exc:
                    raise QueryError(
                        f'topic "{name}": {exc.message}', exc.query, exc.position
                    ) from exc
            compiled.append((name, query))
        self._topics = tuple(sorted(compiled, key=lambda item: item[0]))

    @property
    def topics(self) -> dict[str, Query]:
        return dict(self._topics)

    def match(self, doc: MatchDoc | PreparedDoc) -> tuple[str, ...]:
        """Names of the topics ``doc`` matches, sorted."""
        prepared = _prepared(doc)
        return tuple(name for name, query in self._topics if query.matches(prepared))


def validate_topic_name(name: str) -> str:
    """Return the canonical (stripped, lower-case) topic name, or raise ``ValueError``."""
    canonical = name.strip().lower()
    if not 1 <= len(canonical) <= 32 or not set(canonical) <= _TOPIC_NAME_CHARS:
        raise ValueError(
            f'"{name.strip()}" is not a valid topic name: use 1 to 32 characters, only letters '
            "a-z, digits 0-9, - and _"
        )
    return canonical
