"""Alert summaries: the ``Summarizer`` protocol, sentence splitting, boilerplate removal and the
offline extractive default (plus a plain lead baseline).

Everything here is deterministic, stdlib-only and fast (well under 5 ms per article): summaries
are computed inline for every alert, so nothing may touch the network or load a model.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = [
    "BOILERPLATE",
    "ELLIPSIS",
    "Boilerplate",
    "ExtractiveSummarizer",
    "LeadSummarizer",
    "Summarizer",
    "fit_budget",
    "make_summarizer",
    "split_sentences",
    "strip_boilerplate",
]

ELLIPSIS = "…"


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


@runtime_checkable
class Summarizer(Protocol):
    """Turns an item's title and plain text into a short plain-text summary.

    The result has at most ``max_chars`` characters and ``max_sentences`` sentences, never cuts a
    word (an over-long single sentence is cut at a word boundary and ends with "…"), and is ``""``
    when the item has nothing to say beyond its title.
    """

    name: str

    def summarize(
        self, title: str, text: str, *, max_chars: int = 280, max_sentences: int = 2
    ) -> str: ...


# --------------------------------------------------------------------------------------------
# Boilerplate
# --------------------------------------------------------------------------------------------

# Families that are a whole sentence of their own (calls to action) only match at a sentence
# start, so that prose like "officials will sign up for the scheme" survives.
_SENTENCE_START = r"(?:^|(?<=[.!?…]\s)|(?<=[.!?…][\"'”’)]\s))"
_TO_SENTENCE_END = r"[^.!?…]*(?:[.!?…]+|$)"
# Capitalised words that open a sentence rather than continue a credit or caption.
_STARTER_WORD = r"(?:The|A|An|He|She|It|They|We|In|On|At|But|This|His|Her|Their|Mr|Mrs|Ms)\b"
_LINK_ARROW = r"(?:…|\.{2,}|→|»|>{1,2})"


class Boilerplate(NamedTuple):
    """One boilerplate family: ``pattern`` is replaced by ``replacement`` wherever it matches.

    ``triggers`` are lower-case substrings, one of which every match contains; the pattern runs
    only when the case-folded text contains one. Most texts contain none, and several patterns
    (sentence-start lookbehinds, ``IGNORECASE``) defeat the regex engine's literal-prefix search
    and would otherwise cost a scan of the whole text each.
    """

    triggers: tuple[str, ...]
    pattern: re.Pattern[str]
    replacement: str = " "


#: Applied in order by :func:`strip_boilerplate`. Data, not code: add a family by adding an
#: entry. Replacements are a space (re-collapsed afterwards) so that widgets glued to real words
#: ("...on this deviceLang") leave the words apart.
BOILERPLATE: tuple[Boilerplate, ...] = (
    # Guardian/NYT-style "Continue reading..." links at the end of RSS excerpts.
    Boilerplate(
        ("continue reading",),
        re.compile(
            r"Continue reading(?:\s+the\s+(?:main\s+story|full\s+(?:story|article)))?\s*"
            + _LINK_ARROW
            + "?",
            re.IGNORECASE,
        ),
    ),
    # "Read more" / "Read the full story" calls to action, at a sentence start or as the last
    # words of the text; "Read more: <headline>" also drops the related-story headline after it.
    Boilerplate(
        ("read more", "read the full", "read the rest"),
        re.compile(
            _SENTENCE_START
            + r"(?:Read more|READ MORE|Read the (?:full|rest of the) (?:story|article|post))\b"
            r"(?:\s*:.*$|\s+(?:here|at|on|from)\b" + _TO_SENTENCE_END + ")?"
            r"\s*" + _LINK_ARROW + r"?\.?"
            r"|Read more\s*" + _LINK_ARROW + r"?\.?\s*$"
        ),
    ),
    # WordPress feed footer: "The post <X> appeared first on <Y>." (Y may contain dots: a domain).
    Boilerplate(
        ("appeared first on",),
        re.compile(r"The post\s.+?\sappeared first on\s.+?(?:\.(?=\s|$)|$)"),
    ),
    # BBC share widget, often glued to the first sentence without spaces.
    Boilerplate(
        ("copy this link",),
        re.compile(
            r"Share this with\s*(?:(?:Email|Facebook|Messenger|Twitter|Pinterest|WhatsApp|"
            r"LinkedIn|Reddit|SMS)\s*)*Copy this link",
            re.IGNORECASE,
        ),
    ),
    # "Click here to see the full results." and similar link prompts.
    Boilerplate(("click here",), re.compile(r"Click here\b" + _TO_SENTENCE_END, re.IGNORECASE)),
    # "[…]" / "[...]" excerpt trailers: the sentence before was cut, so mark it as cut.
    Boilerplate(("[…]", "[...]"), re.compile(r"\s*\[(?:…|\.{3})\]\s*$"), ELLIPSIS),
    # Wire-service datelines at the very start: "(Reuters) -", "WASHINGTON (AP) —",
    # "LONDON, March 3 (Reuters) -", "New Delhi, India (CNN)" (which CNN glues to the first word).
    Boilerplate(
        ("(ap)", "(reuters)", "(afp)", "(cnn)", "(upi)", "(bloomberg)", "(dpa)", "(pa)"),
        re.compile(
            r"^\s*(?:[A-Z][\w.,'’ -]{0,40}?(?:,\s*[A-Z][a-z]{2,8}\.?\s+\d{1,2})?\s*)?"
            r"\((?:AP|Reuters|AFP|CNN|UPI|Bloomberg|dpa|PA)\)\s*(?:[-—–]{1,2}|:)?\s*"
        ),
        "",
    ),
    # All-caps dateline without an agency: "WASHINGTON — ", "NEW YORK, Jan. 5 -- ".
    Boilerplate(
        ("-", "—", "–"),
        re.compile(
            r"^\s*[A-Z][A-Z.'’ ]{2,30}(?:,\s*[A-Z][a-z]{2,8}\.?\s+\d{1,2})?\s+(?:[—–]|-{1,2})\s+"
        ),
        "",
    ),
    # BBC "18 March 2014 Last updated at 09:22 GMT" stamp.
    Boilerplate(
        ("last updated at",),
        re.compile(
            r"(?:\b\d{1,2} [A-Z][a-z]+ \d{4} )?Last updated at \d{1,2}:\d{2}"
            r"(?: ?(?:GMT|BST|UTC|CET|CEST|EST|EDT|PST|PDT))?"
        ),
    ),
    # Photo credits: "Image copyright Getty Images" (a few capitalised words; a sentence starter
    # after them begins the article proper).
    Boilerplate(
        ("image copyright",),
        re.compile(
            r"Image copyright\s+(?:(?!Image\b|" + _STARTER_WORD + r")[A-Z][\w&./'’-]*\s*){0,4}"
        ),
    ),
    # Captions: "Image caption The mayor at the town hall The council met...". Captions carry no
    # full stop, so one ends at the first sentence-starter word or full stop, whichever is first.
    Boilerplate(
        ("image caption", "media caption", "video caption"),
        re.compile(
            r"(?:Image|Media|Video) caption\b(?:\s+\S[^.!?…]*?(?=\s"
            + _STARTER_WORD
            + ")|"
            + _TO_SENTENCE_END
            + ")"
        ),
    ),
    # BBC video placeholder, glued to the following word in scraped text.
    Boilerplate(
        ("media playback",),
        re.compile(r"Media playback is (?:not supported|unsupported) on (?:this|your) device"),
    ),
    # BBC local-news promos, glued to the next paragraph: "Updates on this story and more from
    # LeicestershireThree other cats...", "More on this and other South Yorkshire storiesThe
    # union...", "Local Live has all the latest travel newsFirst said..." (cut at the glue, else
    # at the end of the sentence).
    Boilerplate(
        ("updates on this story", "more on this", "more stories from", "local live has"),
        re.compile(
            r"(?:(?:Follow )?[Uu]pdates on this story and (?:more|others|other news) (?:from|on)"
            r"|More on this (?:story )?and other|More stories from|Local Live has all the latest)"
            r" (?:[^.!?…]*?[a-z](?=[A-Z])|" + _TO_SENTENCE_END + ")"
        ),
    ),
    # BBC interactive-content notice and reader-contribution form, whole sentences.
    Boilerplate(
        ("older browsers", "non-interactive version", "bbc journalist", "sending us pictures"),
        re.compile(
            _SENTENCE_START
            + r"(?:We are aware that this interactive|You can find a non-interactive version"
            r"|If you are happy to be contacted by a BBC journalist|When sending us pictures)"
            + _TO_SENTENCE_END
        ),
    ),
    # Daily Mail video prompt.
    Boilerplate(("scroll down",), re.compile(r"Scroll down for (?:video|more)\b")),
    # Newsletter and sign-up calls to action (the whole sentence goes).
    Boilerplate(
        ("newsletter",),
        re.compile(
            _SENTENCE_START
            + r"Subscribe to (?:our|the)\b[^.!?…]{0,60}?newsletter"
            + _TO_SENTENCE_END
        ),
    ),
    Boilerplate(
        ("sign up for", "sign up to"),
        re.compile(_SENTENCE_START + r"Sign up (?:for|to)\b" + _TO_SENTENCE_END),
    ),
    # Social-follow prompts: "Follow @BBCNewsbeat on Twitter, ...", "Follow us on Facebook."
    Boilerplate(
        ("follow us on", "follow @"),
        re.compile(_SENTENCE_START + r"Follow (?:us|@\w+) on\b" + _TO_SENTENCE_END),
    ),
)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def strip_boilerplate(text: str) -> str:
    """Remove feed/page boilerplate (see :data:`BOILERPLATE`) and re-collapse whitespace."""
    text = _collapse(text)
    folded = text.casefold()
    for family in BOILERPLATE:
        if any(trigger in folded for trigger in family.triggers):
            text = family.pattern.sub(family.replacement, text)
    return _collapse(text)


# --------------------------------------------------------------------------------------------
# Sentence splitting
# --------------------------------------------------------------------------------------------

# Candidate sentence ends: a run of terminal punctuation plus closing quotes/brackets, followed by
# whitespace; CJK full-width terminals need no space after them. Scraped text often glues
# paragraphs ("in 2013.Leeds Crown Court", 'basis".NRW said'), so a stop between a lower-case
# letter/digit/closer and a capitalised word is a candidate too; a quote after such a glued stop
# is left to the next sentence, since it is as often an opening quote as a closing one.
_END = re.compile(
    r"[.!?…]+[\"'”’»)\]]*(?=\s)|[.!?]+(?=[\"“]?(?:[A-Z][A-Za-z]|[AI]\s))|[。！？]+[」』”’)]*"
)
_GLUE_BEFORE = '"”’)'

# Never a sentence end: titles and Latin abbreviations that precede what they qualify.
_NEVER_END = _wordset(
    "mr mrs ms mx dr prof gen lt col capt cmdr adm maj sgt cpl pvt sen rep gov rev hon fr pres "
    "supt insp det atty messrs mme mlle vs v cf e.g i.e viz approx"
)
# Ends a sentence only when the next word typically starts one ("in the U.S. The ..."); a digit
# or a name after it means it qualifies what follows ("Jan. 5", "No. 10", "St. Louis").
_AMBIGUOUS = _wordset(
    "jan feb mar apr jun jul aug sep sept oct nov dec no nos st mt ft inc ltd co corp jr sr bros "
    "plc llc est dept univ"
)
_STARTERS = _wordset(
    "the a an he she it they we i you his her its their our my this that these those there here "
    "but and or so yet if when while after before as at in on for from by with since although "
    "though however meanwhile then now some many most all both each one two no not what who why "
    "how where which mr mrs ms dr police officials"
)
_DOTTED = re.compile(r"(?:\w\.)+\w")
_OPENERS = "\"'“‘«([¿¡"
_FIRST_WORD = re.compile(r"[\"'“‘«(\[¿¡]*(\w+)")


def _glued_after_acronym(text: str, match: re.Match[str]) -> bool:
    # "in the UK.The line was closed": an acronym (letters only, so not "U.S.Army") glued to a
    # word that typically starts a sentence (so not "ASP.NET").
    token = text[text.rfind(" ", 0, match.start()) + 1 : match.start()]
    word = _FIRST_WORD.match(text, match.end())
    return (
        len(token) >= 2
        and token.isalpha()
        and word is not None
        and word.group(1).casefold() in _STARTERS
    )


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    punct = match.group()
    if punct[0] in "。！？":
        return True
    nxt_at = match.end()
    if nxt_at < len(text) and not text[nxt_at].isspace():
        before = text[match.start() - 1] if match.start() else " "
        if not (
            before.islower()
            or before.isdigit()
            or before in _GLUE_BEFORE
            or _glued_after_acronym(text, match)
        ):
            return False  # "U.S.Army", "ASP.NET": not a glued paragraph
    while nxt_at < len(text) and text[nxt_at].isspace():
        nxt_at += 1
    if nxt_at >= len(text):
        return True
    nxt = text[nxt_at]
    # Lower case after a stop means the sentence goes on ("e.g. the", "Yahoo! said", "3 p.m. on").
    if nxt.islower() or nxt in ",;:":
        return False
    if punct != ".":
        return True  # "?", "!", "...", "…" or a quoted/bracketed stop: only case decides
    token_start = text.rfind(" ", 0, match.start()) + 1
    token = text[token_start : match.start()].lstrip(_OPENERS)
    if not token:
        return True
    low = token.casefold()
    if len(token) == 1 and token.isalpha():
        return False  # an initial: "J. R. R. Tolkien", "George W. Bush"
    if low in _NEVER_END:
        return False
    if low in _AMBIGUOUS or _DOTTED.fullmatch(token):
        word = _FIRST_WORD.match(text, nxt_at)
        return word is not None and word.group(1).casefold() in _STARTERS
    return True


def split_sentences(text: str) -> list[str]:
    """Split plain text into sentences (abbreviation-, initial-, decimal- and quote-aware)."""
    text = _collapse(text)
    sentences: list[str] = []
    start = 0
    for match in _END.finditer(text):
        if _is_boundary(text, match):
            piece = text[start : match.end()].strip()
            if piece:
                sentences.append(piece)
            start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


# --------------------------------------------------------------------------------------------
# Tokens and the headline
# --------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
_AFTER_COPY = re.compile(r"[^\w\"'“‘(]*")
_STOPWORDS = _wordset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    said says say s t ll re ve d m one two new mr mrs ms dr us like get got"""
)


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


# Inflections folded together so that "drilling", "drilled" and "drills" count as one word when
# sentences are compared. Longest suffix first; the stem keeps at least three letters.
_SUFFIXES = ("ies", "ing", "ed", "es", "ly", "s")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _content(tokens: Sequence[str]) -> list[str]:
    return [t for t in tokens if t not in _STOPWORDS and (len(t) > 1 or t.isdigit())]


def _without_title_prefix(title: str, text: str) -> str:
    """Drop a copy of the headline that some feeds put at the start of the body.

    Only a copy that stands apart counts: followed by nothing, by punctuation ("Title: ...",
    "Title. ..."), or, for a headline of several words, glued to a capitalised next paragraph.
    "Fire crews ..." under the headline "Fire" is a sentence, not a copy.
    """
    words = _WORD.findall(title)
    if not words:
        return text
    # The headline's words as the body's first word runs, compared without compiling a pattern
    # per title (a compile per alert cost more than the whole summary).
    runs = _WORD.finditer(text)
    end = 0
    for word in words:
        run = next(runs, None)
        if run is None or run.group().lower() != word.lower():
            return text
        end = run.end()
    tail = _AFTER_COPY.match(text, end)
    assert tail is not None  # the pattern matches the empty string
    rest = text[tail.end() :]
    separated = bool(tail.group().strip())
    glued = len(words) >= 3 and rest[:1].isupper()
    return rest if not rest or separated or glued else text


def _repeats_title(sentence_content: Sequence[str], title_content: frozenset[str]) -> bool:
    # A sentence whose content words are (almost) all headline words adds nothing under it.
    if not sentence_content or not title_content:
        return False
    distinct = set(sentence_content)
    return len(distinct & title_content) >= 0.8 * len(distinct)


@dataclass(frozen=True, slots=True)
class _Sentence:
    index: int  # position among the candidates, i.e. in the cleaned body
    text: str
    tokens: list[str]
    content: list[str]  # tokens minus stop words


def _candidates(title: str, text: str) -> list[_Sentence]:
    """Sentences worth summarizing: boilerplate, headline copies and repeats, and junk removed."""
    text = unicodedata.normalize("NFC", text)
    title = unicodedata.normalize("NFC", title)
    # A body that only repeats the headline (in any case or punctuation) is empty after this.
    body = _without_title_prefix(title, strip_boilerplate(text))
    title_content = frozenset(_content(_tokens(title)))
    out: list[_Sentence] = []
    for raw in split_sentences(body):
        tokens = _tokens(raw)
        if not tokens:
            continue  # stray punctuation ("…", "—")
        content = _content(tokens)
        if _repeats_title(content, title_content):
            continue
        out.append(_Sentence(len(out), raw, tokens, content))
    return out


# --------------------------------------------------------------------------------------------
# Budget
# --------------------------------------------------------------------------------------------

_TRAILING_JUNK = " \t,;:—–-(\"'“‘«"


def _truncate(sentence: str, max_chars: int) -> str:
    """Cut at the last word boundary that leaves room for "…"."""
    if len(sentence) <= max_chars:
        return sentence
    room = max_chars - len(ELLIPSIS)
    if room <= 0:
        return ELLIPSIS[:max_chars]
    cut = -1
    for ws in re.finditer(r"\s", sentence[: room + 1]):
        cut = ws.start()
    head = sentence[:cut].rstrip(_TRAILING_JUNK) if cut > 0 else ""
    if not head:
        # One unbroken "word" longer than the budget (a URL, unspaced CJK): cut it; the ellipsis
        # says so.
        head = sentence[:room]
    return head + ELLIPSIS


def _check_budget(max_chars: int, max_sentences: int) -> None:
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    if max_sentences < 1:
        raise ValueError(f"max_sentences must be at least 1, got {max_sentences}")


def _join(sentences: Sequence[_Sentence]) -> str:
    return " ".join(s.text for s in sorted(sentences, key=lambda s: s.index))


# Markup and mentions a generated text may carry: Markdown emphasis, code, headings, links and
# list bullets, HTML tags, and platform mentions (@everyone, <@123>, <!here>, <#C1>).
_MARKUP = (
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # [text](url) -> text
    (re.compile(r"<[@#!][^>\s]*>"), " "),
    (re.compile(r"</?[A-Za-z][^<>]{0,200}>"), " "),
    (re.compile(r"(?<!\w)@(?=\w)"), ""),
    (re.compile(r"(?m)^\s*(?:#{1,6}|[-*+•]|\d{1,2}[.)])\s+"), ""),
    (re.compile(r"(\*{1,3}|_{2,3}|`{1,3}|~~)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"[*`]+"), ""),
    (re.compile(r"\s+(?=[.,;:!?](?:\s|$))"), ""),  # "met <@1>." left "met ."
)


def fit_budget(text: str, *, max_chars: int = 280, max_sentences: int = 2) -> str:
    """Make outside text (an LLM's answer) a summary: plain text within the budget.

    Markup and mentions are removed, whitespace collapsed, at most ``max_sentences`` sentences
    kept, and an over-long result cut at a word boundary with "…".
    """
    _check_budget(max_chars, max_sentences)
    text = unicodedata.normalize("NFC", text)
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    sentences = split_sentences(text)[:max_sentences]
    joined = " ".join(sentences)
    if len(joined) <= max_chars:
        return joined
    kept: list[str] = []
    for sentence in sentences:
        if len(" ".join([*kept, sentence])) > max_chars:
            break
        kept.append(sentence)
    return " ".join(kept) if kept else _truncate(sentences[0], max_chars)


# --------------------------------------------------------------------------------------------
# Summarizers
# --------------------------------------------------------------------------------------------


class LeadSummarizer:
    """The first sentences of the body that fit the budget (the classic news baseline)."""

    name = "lead"

    def summarize(
        self, title: str, text: str, *, max_chars: int = 280, max_sentences: int = 2
    ) -> str:
        _check_budget(max_chars, max_sentences)
        sentences = _candidates(title, text)
        if not sentences:
            return ""
        chosen: list[_Sentence] = []
        for sentence in sentences[:max_sentences]:
            if len(_join([*chosen, sentence])) > max_chars:
                break
            chosen.append(sentence)
        if not chosen:
            return _truncate(sentences[0].text, max_chars)
        return _join(chosen)


# Asides a reader loses nothing without: short parentheticals ("(pictured)", "(3.7 miles)") and a
# leading connective that points at a sentence the summary does not show ("But ...").
_ASIDE = re.compile(r"\s+\([^()]{1,60}\)(?=[\s.,;:!?…]|$)")
_CONNECTIVE = re.compile(r"(?:And|But|However|Meanwhile|Also|So|Yet)\b,?\s+(?=[\w\"'“‘])")
# Quoted speech: a sentence that opens or closes a quotation, or speaks in the first person, is
# colour rather than the news ("'I was over the moon,' he said.").
_QUOTED = re.compile(r"^[\"'“‘]|[\"'”’]$")
# A colon before a capital or a quote mark introduces a quotation ('He added: "We won."'), labels
# a photo caption glued into the text ("Flying high: Half of the kite...") or starts a list
# (team line-ups): none of them states the news.
_LABELLED = re.compile(r":\s+[\"'“‘A-Z]")
# Tokens are case-folded, so "US" (the country) counts as "us" too. Kept deliberately: matching
# case-sensitively scored lower on the develop half (R1 CNN/DM 39.93 vs 40.01, XSum 19.80 vs
# 20.02), so the rule stays as measured.
_FIRST_PERSON = _wordset("i me my mine we us our ours")


def _tighten(sentence: str) -> str:
    text = _ASIDE.sub("", sentence)
    match = _CONNECTIVE.match(text)
    if match is not None and match.end() < len(text):
        rest = text[match.end() :]
        text = rest[0].upper() + rest[1:]
    return text


class ExtractiveSummarizer:
    """Lead-biased sentence scoring; the default summarizer.

    A sentence scores ``position_weight * prior`` plus ``(1 - position_weight)`` times its
    centrality (the cosine between its stemmed content-word counts and those of the rest of the
    document, scaled to the document's best). The prior is flat over the first ``plateau + 1``
    sentences and then decays as ``exp(-(index - plateau) / decay)``: news states its point in
    the first few sentences, not only the first (papers put photo captions and a second angle
    there). The score is then multiplied by a length bonus (``1 + length_weight * min(chars,
    250) / 250``: a fuller sentence tells more within the same two-sentence budget) and by
    ``speech_penalty`` for quoted or first-person speech and for colon-labelled text (quotation
    intros, glued photo captions, line-ups); sentences shorter than ``min_tokens`` words count
    half. Sentences are picked greedily; each pick after the first is discounted by
    ``redundancy`` times the share of its content words already said by the headline or the
    sentences already picked, so the summary adds to the title instead of repeating it. Short
    parentheticals and a leading "But"/"And" are dropped. The picks are returned in document
    order; if the best one alone is too long it is cut with "…" rather than replaced by a
    weaker sentence that fits.

    The defaults were chosen on the develop half (odd ids) of ../shared/data/summarization and
    are reported on the other half by ``bench/summaries``.
    """

    name = "extractive"

    def __init__(
        self,
        *,
        position_weight: float = 0.5,
        decay: float = 5.0,
        plateau: int = 3,
        min_tokens: int = 8,
        length_weight: float = 0.5,
        speech_penalty: float = 0.5,
        redundancy: float = 0.5,
    ) -> None:
        self.position_weight = position_weight
        self.decay = decay
        self.plateau = plateau
        self.min_tokens = min_tokens
        self.length_weight = length_weight
        self.speech_penalty = speech_penalty
        self.redundancy = redundancy

    def _scores(self, sentences: Sequence[_Sentence]) -> list[float]:
        stems = [Counter(_stem(w) for w in s.content) for s in sentences]
        document: Counter[str] = Counter()
        for own in stems:
            document.update(own)
        centrality: list[float] = []
        for own in stems:
            # Cosine between the sentence's word counts and the rest of the document's (the
            # rest's norm is the same for every sentence, so it is left out): words the sentence
            # shares with the others count by how often the others use them.
            shared = sum(n * (document[w] - n) for w, n in own.items())
            centrality.append(shared / math.sqrt(sum(n * n for n in own.values())) if own else 0.0)
        top = max(centrality, default=0.0) or 1.0
        scores: list[float] = []
        for s, cent in zip(sentences, centrality, strict=True):
            prior = math.exp(-max(0, s.index - self.plateau) / self.decay)
            score = self.position_weight * prior + (1 - self.position_weight) * cent / top
            score *= 1 + self.length_weight * min(len(s.text), 250) / 250
            if (
                _QUOTED.search(s.text)
                or _LABELLED.search(s.text)
                or _FIRST_PERSON.intersection(s.tokens)
            ):
                score *= self.speech_penalty
            if len(s.tokens) < self.min_tokens:
                score *= 0.5
            scores.append(score)
        return scores

    def summarize(
        self, title: str, text: str, *, max_chars: int = 280, max_sentences: int = 2
    ) -> str:
        _check_budget(max_chars, max_sentences)
        sentences = [
            _Sentence(s.index, _tighten(s.text), s.tokens, s.content)
            for s in _candidates(title, text)
        ]
        if not sentences:
            return ""
        scores = self._scores(sentences)
        said = set(_content(_tokens(unicodedata.normalize("NFC", title))))
        chosen: list[_Sentence] = []
        pool = list(sentences)
        while pool and len(chosen) < max_sentences:

            def value(s: _Sentence) -> float:
                distinct = set(s.content)
                overlap = len(distinct & said) / len(distinct) if distinct else 1.0
                return scores[s.index] * (1 - self.redundancy * overlap)

            pool.sort(key=lambda s: (-value(s), s.index))
            if not chosen and len(pool[0].text) > max_chars:
                return _truncate(pool[0].text, max_chars)
            pick = next((s for s in pool if len(_join([*chosen, s])) <= max_chars), None)
            if pick is None:
                break
            chosen.append(pick)
            pool.remove(pick)
            said.update(pick.content)
        return _join(chosen)


_FACTORIES: dict[str, Callable[[], Summarizer]] = {
    "extractive": ExtractiveSummarizer,
    "lead": LeadSummarizer,
}


def make_summarizer(name: str = "extractive") -> Summarizer:
    """Build a summarizer by name; an unknown name raises ``ValueError`` listing the known ones."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        known = ", ".join(sorted(_FACTORIES))
        raise ValueError(f"unknown summarizer {name!r}; known: {known}") from None
    return factory()
