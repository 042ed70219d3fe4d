"""Tests for bot.summarize: splitting, boilerplate, title handling, the budget, and a sanity
evaluation against human CNN/DailyMail highlights from ../shared/data."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.summarize import (
    ELLIPSIS,
    ExtractiveSummarizer,
    LeadSummarizer,
    Summarizer,
    fit_budget,
    make_summarizer,
    split_sentences,
    strip_boilerplate,
)

SUMMARIZERS: list[Summarizer] = [ExtractiveSummarizer(), LeadSummarizer()]
BY_NAME = pytest.mark.parametrize("summarizer", SUMMARIZERS, ids=lambda s: s.name)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "summarization" / "data.jsonl"

# --------------------------------------------------------------------------------------------
# Sentence splitting
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mr. Smith went to Washington. He met Sen. Jones and Rep. Brown.",
            ["Mr. Smith went to Washington.", "He met Sen. Jones and Rep. Brown."],
        ),
        (
            "Dr. Lee, Gen. Grant and Lt. Dan met Mrs. Doe at St. Mary's. It rained.",
            ["Dr. Lee, Gen. Grant and Lt. Dan met Mrs. Doe at St. Mary's.", "It rained."],
        ),
        (
            "The U.S. economy grew 3.5 percent. Analysts at the U.N. were surprised.",
            ["The U.S. economy grew 3.5 percent.", "Analysts at the U.N. were surprised."],
        ),
        (
            "He moved to the U.S. The move was sudden.",
            ["He moved to the U.S.", "The move was sudden."],
        ),
        (
            "The U.K. and E.U. Commission talks ended. Both sides left.",
            ["The U.K. and E.U. Commission talks ended.", "Both sides left."],
        ),
        (
            "Some fruit, e.g. apples, is red. Other fruit, i.e. bananas, is not.",
            ["Some fruit, e.g. apples, is red.", "Other fruit, i.e. bananas, is not."],
        ),
        (
            "J. R. R. Tolkien wrote it. George W. Bush read it.",
            ["J. R. R. Tolkien wrote it.", "George W. Bush read it."],
        ),
        (
            "It happened on Jan. 5 and Dec. 24. No. 10 said nothing.",
            ["It happened on Jan. 5 and Dec. 24.", "No. 10 said nothing."],
        ),
        (
            "Wait... what happened? Nobody knew! Then it rained… The end.",
            ["Wait... what happened?", "Nobody knew!", "Then it rained…", "The end."],
        ),
        (
            "He said: \"It is over.\" Then he left. 'Why?' she asked.",
            ['He said: "It is over."', "Then he left.", "'Why?' she asked."],
        ),
        ("It cost $3.50 at 5 p.m. on Monday. Prices rose.", None),
        (
            "He died in August 2013.Leeds Crown Court heard the case.",
            ["He died in August 2013.", "Leeds Crown Court heard the case."],
        ),
        (
            "Le président a parlé à Zürich. Élodie a confirmé ça.",
            ["Le président a parlé à Zürich.", "Élodie a confirmé ça."],
        ),
        ("今日は晴れ。明日は雨です！", ["今日は晴れ。", "明日は雨です！"]),
        (
            "The line runs to the rest of the UK.The line was shut in 2014.",
            ["The line runs to the rest of the UK.", "The line was shut in 2014."],
        ),
        (
            "He was last seen in December 2000.A search began on Saturday.",
            ["He was last seen in December 2000.", "A search began on Saturday."],
        ),
        (
            "He joined the U.S.Army in 1990. The ASP.NET site went live.",
            ["He joined the U.S.Army in 1990.", "The ASP.NET site went live."],
        ),
        ("A fragment without a stop", ["A fragment without a stop"]),
        ("", []),
    ],
)
def test_split_sentences(text: str, expected: list[str] | None) -> None:
    if expected is None:
        expected = ["It cost $3.50 at 5 p.m. on Monday.", "Prices rose."]
    assert split_sentences(text) == expected


def test_split_sentences_collapses_whitespace_and_keeps_every_word() -> None:
    text = "  One  sentence\there.\n\nAnother one. "
    assert split_sentences(text) == ["One sentence here.", "Another one."]


# --------------------------------------------------------------------------------------------
# Boilerplate
# --------------------------------------------------------------------------------------------

BODY = "The council approved the budget on Tuesday."


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        (f"{BODY} Continue reading…", "Continue reading"),
        (f"{BODY} Continue reading →", "Continue reading"),
        (f"{BODY} Continue reading the main story", "main story"),
        (f"{BODY} Read more", "Read more"),
        (f"{BODY} Read more »", "Read more"),
        (f"{BODY} Read more: Mayor quits after row over parking", "Mayor quits"),
        (f"{BODY} Read the full story at Example News.", "full story"),
        (f"{BODY} The post Budget approved appeared first on Example.com.", "appeared first"),
        (
            "Share this withEmailFacebookMessengerMessengerTwitterPinterestWhatsAppLinkedin"
            f"Copy this link{BODY}",
            "Share this",
        ),
        (
            "Share this with Email Facebook Messenger Twitter Pinterest WhatsApp LinkedIn "
            f"Copy this link {BODY}",
            "Copy this link",
        ),
        (f"{BODY} Click here to see the full results.", "Click here"),
        (f"{BODY} [...]", "[...]"),
        (f"{BODY} […]", "[…]"),
        (f"(Reuters) - {BODY}", "Reuters"),
        (f"WASHINGTON (AP) — {BODY}", "AP"),
        (f"LONDON, March 3 (Reuters) - {BODY}", "LONDON"),
        (f"(CNN){BODY}", "CNN"),
        (f"NEW YORK — {BODY}", "NEW YORK"),
        (f"Image copyright Getty Images {BODY}", "Getty"),
        (f"Image caption The mayor at the town hall {BODY}", "Image caption"),
        (f"Image caption Fans wave flags. {BODY}", "Fans"),
        (f"Image copyright AFP/Getty Images Image caption Mr Trump in Ohio {BODY}", "Trump"),
        (f"Media playback is not supported on this device{BODY}", "Media playback"),
        (f"{BODY} Scroll down for video", "Scroll down"),
        (f"{BODY} Subscribe to our newsletter for daily updates.", "Subscribe"),
        (f"{BODY} Subscribe to the BBC Sport newsletter to get our pick.", "Subscribe"),
        (f"{BODY} Sign up for our morning briefing.", "Sign up"),
        (f"{BODY} Follow @BBCNewsbeat on Twitter and Instagram", "Follow"),
        (f"18 March 2014 Last updated at 09:22 GMT{BODY}", "Last updated"),
        (f"Updates on this story and more from Leicestershire{BODY}", "Leicestershire"),
        (f"Follow updates on this story and other news from Essex{BODY}", "Essex"),
        (f"{BODY} More on this and other South Yorkshire stories{BODY}", "Yorkshire"),
        (f"{BODY} More stories from across Yorkshire{BODY}", "Yorkshire"),
        (f"{BODY} Local Live has all the latest travel news{BODY}", "Local Live"),
        (
            "We are aware that this interactive video may not work on some older browsers. "
            f"You can find a non-interactive version of the content below. {BODY}",
            "interactive",
        ),
        (
            f"{BODY} If you are happy to be contacted by a BBC journalist please leave a "
            "telephone number that we can contact you on.",
            "journalist",
        ),
        (f"New Delhi, India (CNN){BODY}", "Delhi"),
    ],
)
def test_each_boilerplate_family_is_removed(text: str, gone: str) -> None:
    cleaned = strip_boilerplate(text)
    assert gone not in cleaned
    assert BODY.rstrip(".") in cleaned


def test_excerpt_trailer_marks_the_cut_sentence() -> None:
    assert strip_boilerplate("He said the plan would [...]") == f"He said the plan would{ELLIPSIS}"


@pytest.mark.parametrize(
    "text",
    [
        "Readers who read more books sleep better, a study found.",
        "Officials will sign up for the scheme. Many share this with friends.",
        "The council will follow up on the post. The Post appeared in print.",
        "WASHINGTON was cold on Monday. Read the report, he said.",
    ],
)
def test_ordinary_prose_survives(text: str) -> None:
    assert strip_boilerplate(text) == text


# --------------------------------------------------------------------------------------------
# Title handling
# --------------------------------------------------------------------------------------------

TITLE = "Council approves record budget for city schools"


@BY_NAME
@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        TITLE,
        "council approves record budget for city schools!",
        "COUNCIL APPROVES RECORD BUDGET, FOR CITY SCHOOLS.",
        "Continue reading…",
        "Read more » Share this with Email Facebook Twitter Copy this link",
        f"{TITLE} Read more",
        f"(Reuters) - {TITLE}. Continue reading →",
        "The council approves a record budget for schools in the city.",
    ],
)
def test_title_only_items_get_no_summary(summarizer: Summarizer, text: str) -> None:
    assert summarizer.summarize(TITLE, text) == ""


@BY_NAME
def test_sentence_repeating_the_headline_is_skipped(summarizer: Summarizer) -> None:
    text = (
        "The city council approved a record budget for schools. "
        "Teachers will receive a four percent raise from September."
    )
    assert summarizer.summarize(TITLE, text) == (
        "Teachers will receive a four percent raise from September."
    )


@BY_NAME
def test_headline_copied_into_the_body_is_dropped(summarizer: Summarizer) -> None:
    text = f"{TITLE} Teachers will receive a four percent raise from September."
    assert summarizer.summarize(TITLE, text) == (
        "Teachers will receive a four percent raise from September."
    )


@BY_NAME
@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("Fire", "Fire crews fought a blaze overnight.", "Fire crews fought a blaze overnight."),
        ("Fire", "FIRE: crews fought a blaze overnight.", "crews fought a blaze overnight."),
        ("Big fire in Leeds", "Big fire in Leeds Crews fought it.", "Crews fought it."),
        ("Big fire in Leeds", "Big fire in Leeds crews fought.", "Big fire in Leeds crews fought."),
    ],
)
def test_only_a_standalone_headline_copy_is_dropped(
    summarizer: Summarizer, title: str, text: str, expected: str
) -> None:
    assert summarizer.summarize(title, text) == expected


@BY_NAME
def test_sentence_sharing_some_headline_words_is_kept(summarizer: Summarizer) -> None:
    text = "The budget adds forty teachers and two new libraries across northern districts."
    assert summarizer.summarize(TITLE, text) == text


# --------------------------------------------------------------------------------------------
# Choosing and the budget
# --------------------------------------------------------------------------------------------

ARTICLE = (
    "Flooding closed the main bridge into Riverton on Monday. "
    "Engineers said the bridge would stay shut while divers inspect its piers. "
    "The weather was also cold. "
    "A local bakery gave away free bread. "
    "Officials said flooding could close the bridge again next week if rain continues."
)


def test_lead_takes_the_first_sentences_that_fit() -> None:
    lead = LeadSummarizer()
    assert lead.summarize("", ARTICLE) == (
        "Flooding closed the main bridge into Riverton on Monday. "
        "Engineers said the bridge would stay shut while divers inspect its piers."
    )
    assert lead.summarize("", ARTICLE, max_sentences=1) == (
        "Flooding closed the main bridge into Riverton on Monday."
    )
    # The second sentence no longer fits: lead stops rather than skipping ahead.
    assert lead.summarize("", ARTICLE, max_chars=100) == (
        "Flooding closed the main bridge into Riverton on Monday."
    )


def test_extractive_prefers_central_sentences_over_filler() -> None:
    summary = ExtractiveSummarizer().summarize("", ARTICLE)
    chosen = split_sentences(summary)
    assert chosen[0] == "Flooding closed the main bridge into Riverton on Monday."
    assert "The weather was also cold." not in chosen
    assert "A local bakery gave away free bread." not in chosen


@BY_NAME
def test_sentences_keep_document_order(summarizer: Summarizer) -> None:
    # The most central sentence comes last; it must still come after the lead in the summary.
    text = (
        "Divers reached the wreck on Friday. The sea was calm. Gulls circled. "
        "Divers said the wreck of the ferry lies on its side and divers will return to the wreck."
    )
    sentences = split_sentences(text)
    chosen = split_sentences(summarizer.summarize("", text, max_chars=1000, max_sentences=2))
    positions = [sentences.index(s) for s in chosen]
    assert positions == sorted(positions)
    assert len(chosen) == 2


@BY_NAME
def test_over_long_single_sentence_is_cut_at_a_word_with_an_ellipsis(
    summarizer: Summarizer,
) -> None:
    sentence = (
        "The committee, which met for eleven hours behind closed doors in the old town hall, "
        "finally agreed to a package of measures including new cycle lanes, cheaper bus fares "
        "for students and pensioners, a ban on idling engines near schools and a review of "
        "parking charges that will report back before the end of the financial year."
    )
    assert len(sentence) > 280
    out = summarizer.summarize("", sentence)
    assert out.endswith(ELLIPSIS)
    assert len(out) <= 280
    head = out[: -len(ELLIPSIS)]
    assert sentence.startswith(head)
    assert sentence[len(head)] in " ,"  # cut at a word boundary (trailing comma dropped)
    assert not head.endswith((",", " "))


@BY_NAME
def test_unbreakable_token_is_hard_cut(summarizer: Summarizer) -> None:
    out = summarizer.summarize("", "x" * 500, max_chars=50)
    assert out == "x" * 49 + ELLIPSIS


@BY_NAME
def test_unicode_text(summarizer: Summarizer) -> None:
    text = (
        "Der Bürgermeister von Zürich eröffnete am Montag die neue Brücke über die Limmat. "
        "Tausende Menschen feierten das Ereignis mit Musik und Feuerwerk 🎆. "
        "東京では新しい駅が開業した。"
    )
    out = summarizer.summarize("Neue Brücke in Zürich", text)
    assert out.startswith("Der Bürgermeister von Zürich eröffnete")
    assert len(out) <= 280
    # Decomposed input (e + combining accent) comes out composed, so it is counted and cut safely.
    decomposed = "Le cafe\u0301 a ferme\u0301 ses portes apre\u0300s trente ans."
    assert summarizer.summarize("", decomposed) == "Le café a fermé ses portes après trente ans."


@BY_NAME
def test_budget_arguments_are_validated(summarizer: Summarizer) -> None:
    with pytest.raises(ValueError, match="max_chars"):
        summarizer.summarize("", ARTICLE, max_chars=0)
    with pytest.raises(ValueError, match="max_sentences"):
        summarizer.summarize("", ARTICLE, max_sentences=0)


@BY_NAME
def test_deterministic(summarizer: Summarizer) -> None:
    assert summarizer.summarize("t", ARTICLE) == summarizer.summarize("t", ARTICLE)


# Title and body vocabularies are disjoint and free of stop words, so every generated body
# sentence is a "real" sentence that must not be skipped as a headline repeat.
TITLE_WORDS = ["Senate", "tariff", "vote", "delayed", "again", "Brussels"]
BODY_WORDS = [
    "flooding",
    "bridge",
    "Riverton",
    "engineers",
    "inspect",
    "piers",
    "Mr.",
    "U.S.",
    "3.5",
    "Zürich",
    "café",
    "naïve",
    "東京",
    "🎆",
    "well-known",
    "\u201cquoted\u201d",
    "https://example.com/a/very/long/path/that/does/not/break/anywhere/at/all",
    "supercalifragilisticexpialidocious",
]

sentence_st = st.builds(
    lambda words, end: (lambda s: s[0].upper() + s[1:] + end)(" ".join(words)),
    st.lists(st.sampled_from(BODY_WORDS), min_size=1, max_size=30),
    st.sampled_from([".", "!", "?", "…", '."', ""]),
)


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(
    sentences=st.lists(sentence_st, min_size=1, max_size=12),
    title=st.lists(st.sampled_from(TITLE_WORDS), max_size=6).map(" ".join),
    max_chars=st.integers(min_value=1, max_value=400),
    max_sentences=st.integers(min_value=1, max_value=3),
    lead_title=st.booleans(),
)
def test_budget_properties(
    sentences: list[str], title: str, max_chars: int, max_sentences: int, lead_title: bool
) -> None:
    text = " ".join(sentences)
    if lead_title and title:
        text = f"{title}. {text}"
    words = set(text.split())
    for summarizer in SUMMARIZERS:
        out = summarizer.summarize(title, text, max_chars=max_chars, max_sentences=max_sentences)
        if re.search(r"\w", " ".join(sentences)):
            assert out, summarizer.name  # every body sentence with a word is a real one
        if not out:
            continue
        assert len(out) <= max_chars
        assert len(split_sentences(out)) <= max_sentences
        assert out == out.strip()
        last = out.split()[-1]
        if not out.endswith(ELLIPSIS):
            assert last in words  # ends on a whole word of the input
        elif last not in words:  # a cut sentence: it must stop at a word boundary
            head = out[: -len(ELLIPSIS)]
            pattern = re.escape(head) + ("" if " " not in head else r"(?!\w)")
            assert re.search(pattern, text), (summarizer.name, out)


@settings(max_examples=150, deadline=None, database=None, derandomize=True)
@given(text=st.text(max_size=400), title=st.text(max_size=60))
def test_arbitrary_text_never_breaks_the_budget(text: str, title: str) -> None:
    for summarizer in SUMMARIZERS:
        out = summarizer.summarize(title, text, max_chars=120, max_sentences=2)
        assert len(out) <= 120
        assert len(split_sentences(out)) <= 2


# --------------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------------


def test_make_summarizer() -> None:
    assert isinstance(make_summarizer(), ExtractiveSummarizer)
    assert isinstance(make_summarizer("lead"), LeadSummarizer)
    assert make_summarizer("extractive").name == "extractive"
    assert isinstance(make_summarizer("lead"), Summarizer)
    with pytest.raises(ValueError, match=r"'bart'.*extractive, lead"):
        make_summarizer("bart")


# --------------------------------------------------------------------------------------------
# Sanity evaluation on real articles with human highlights
# --------------------------------------------------------------------------------------------


def _unigram_f1(candidate: str, reference: str) -> float:
    cand = Counter(re.findall(r"[a-z0-9]+", candidate.lower()))
    ref = Counter(re.findall(r"[a-z0-9]+", reference.lower()))
    overlap = sum((cand & ref).values())
    if not overlap:
        return 0.0
    precision = overlap / sum(cand.values())
    recall = overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def test_unigram_f1_helper() -> None:
    assert _unigram_f1("The cat sat", "the cat sat") == 1.0
    assert _unigram_f1("dog", "cat") == 0.0
    assert _unigram_f1("the cat", "the cat sat on the mat") == pytest.approx(0.5)


@pytest.fixture(scope="module")
def cnndm() -> list[dict[str, str]]:
    if not DATA.is_file():
        pytest.skip(f"shared evaluation data not found at {DATA}")
    with DATA.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return [r for r in rows if r["source"] == "cnndm-test"][:100]


@pytest.mark.shared
def test_extractive_is_not_worse_than_lead_on_cnndm(cnndm: list[dict[str, str]]) -> None:
    assert len(cnndm) == 100

    def mean_f1(summarizer: Summarizer) -> float:
        scores = [
            _unigram_f1(summarizer.summarize("", r["article"]), r["reference"]) for r in cnndm
        ]
        return 100 * sum(scores) / len(scores)

    lead, extractive = mean_f1(LeadSummarizer()), mean_f1(ExtractiveSummarizer())
    print(f"unigram F1 over 100 CNN/DM articles: lead {lead:.2f}, extractive {extractive:.2f}")
    assert lead > 25  # both produce real summaries, not fragments
    assert extractive >= lead - 1.0


@pytest.mark.shared
def test_speed_on_real_articles(cnndm: list[dict[str, str]]) -> None:
    summarizer = ExtractiveSummarizer()
    summarizer.summarize("", cnndm[0]["article"])  # warm the regex caches
    start = time.perf_counter()
    for row in cnndm:
        summarizer.summarize("", row["article"])
    per_article = (time.perf_counter() - start) / len(cnndm)
    # Measured ~1.5 ms on one core; the bound is loose because the test machine is shared.
    assert per_article < 0.025


# --------------------------------------------------------------------------------------------
# Extractive scoring details, fit_budget, and the bench
# --------------------------------------------------------------------------------------------


def test_quoted_speech_loses_to_reported_fact() -> None:
    text = (
        "Flooding closed the main bridge into Riverton on Monday after the river rose two metres. "
        "'I have never seen the river this high in all my years living here,' said one resident. "
        "Engineers said the bridge would stay shut while divers inspect its piers for damage."
    )
    out = ExtractiveSummarizer().summarize("", text)
    assert "never seen" not in out
    assert "Engineers said" in out


def test_colon_labelled_text_loses_to_reported_fact() -> None:
    # A glued photo caption ("Label: ...") and a quotation intro repeat the story's words but
    # are not the news; the reported fact of similar length and position wins.
    text = (
        "Swollen river: Flooding closed the main bridge into Riverton on Monday after rain. "
        "The mayor told reporters: Riverton bridge flooding will close the road for weeks now. "
        "Engineers said the Riverton bridge would stay shut while divers inspect its piers."
    )
    out = ExtractiveSummarizer().summarize("", text, max_sentences=1)
    assert out.startswith("Engineers said")


def test_centrality_counts_inflected_forms_as_one_word() -> None:
    # The second sentence shares its topic with the third only through other inflections
    # ("drilled"/"drilling", "wells"/"well", "tremors"/"tremor"); the first shares two words
    # verbatim with the last. Counted as words, the first is the more central; counted as
    # stems, the drilling sentence is.
    text = (
        "Residents gathered in the hall near the old church to discuss plans today. "
        "The company drilled new wells after tremors stopped during summer months. "
        "Drilling of the well caused a tremor, and the company drills again. "
        "The hall and church were quiet."
    )
    summarizer = ExtractiveSummarizer(position_weight=0.0, length_weight=0.0)
    out = summarizer.summarize("", text, max_sentences=1)
    assert out.startswith("The company drilled")


def test_second_sentence_adds_to_the_title_and_first_pick() -> None:
    text = (
        "Flooding closed the main bridge into Riverton on Monday after heavy rain overnight. "
        "The main Riverton bridge was closed by flooding on Monday after the heavy rain fell. "
        "A temporary ferry will carry commuters across the river from Wednesday morning."
    )
    title = "Floods close Riverton bridge"
    out = ExtractiveSummarizer(redundancy=1.0).summarize(title, text)
    assert "ferry" in out
    assert not ("Flooding closed" in out and "was closed by flooding" in out)
    # Without the discount the near-duplicate, more central sentence wins the second slot.
    assert "ferry" not in ExtractiveSummarizer(redundancy=0.0).summarize(title, text)


def test_short_asides_and_leading_connectives_are_dropped() -> None:
    text = "But the kite (pictured) measured 6,000 metres and was made of 2,000 separate sections."
    assert ExtractiveSummarizer().summarize("", text) == (
        "The kite measured 6,000 metres and was made of 2,000 separate sections."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**Bold** and `code` here. Next one! Third.", "Bold and code here. Next one!"),
        ("See [the report](https://x.test/a) now.", "See the report now."),
        ("Hello @everyone <@123> <#C42> there.", "Hello everyone there."),
        ("<b>Tagged</b> text.", "Tagged text."),
        ("- First point is here.\n- Second point.", "First point is here. Second point."),
        ("", ""),
    ],
)
def test_fit_budget_removes_markup_and_mentions(text: str, expected: str) -> None:
    assert fit_budget(text, max_chars=280, max_sentences=2) == expected


def test_fit_budget_respects_the_budget() -> None:
    text = "One two three four five six seven. Eight nine ten eleven twelve thirteen."
    assert fit_budget(text, max_chars=40, max_sentences=2) == "One two three four five six seven."
    cut = fit_budget("word " * 40, max_chars=30, max_sentences=2)
    assert len(cut) <= 30 and cut.endswith(ELLIPSIS)
    with pytest.raises(ValueError, match="max_chars"):
        fit_budget("x", max_chars=0)


@pytest.mark.shared
def test_bench_smoke(tmp_path: Path) -> None:
    if not DATA.is_file():
        pytest.skip(f"shared evaluation data not found at {DATA}")
    from bench.summaries import run as bench

    out = tmp_path / "results.json"
    assert bench.main(["--limit", "5", "--no-speed", "--no-extraction", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    herald = report["summaries"]["Herald extractive (default)"]
    cell = herald["cnndm-test"]["all"]
    assert cell["n"] == 5
    assert 0 < cell["rouge1"] <= 100
    lo, hi = cell["rouge1_vs_lead_ci"]
    assert lo <= cell["rouge1_vs_lead"] <= hi
    assert "xsum-test" in herald
    assert bench.split_of("xsum-test-38304362") == "report"
    assert bench.split_of("dm-test-068f529825cc39af930a462c5e9685cbd7961fa5") == "develop"
    assert bench.lead_fit("The cat sat here. " * 100).count(".") == 2


def _title_prefix_by_pattern(title: str, text: str) -> str:
    """The rule as one regular expression per title (the reference the word walk must match)."""
    words = re.findall(r"\w+", title)
    if not words:
        return text
    pattern = r"\W*" + r"\W+".join(re.escape(w) for w in words) + r"(?!\w)([^\w\"'“‘(]*)"
    match = re.match(pattern, text, flags=re.IGNORECASE)
    if match is None:
        return text
    rest = text[match.end() :]
    glued = len(words) >= 3 and rest[:1].isupper()
    return rest if not rest or match.group(1).strip() or glued else text


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet="ab AB.:'\"(“-é", max_size=12),
    st.text(alphabet="ab AB.:'\"(“-é\n", max_size=30),
)
def test_title_copy_removal_matches_the_pattern_rule(title: str, text: str) -> None:
    from bot.summarize import _without_title_prefix

    for body in (text, title + text, title.upper() + ": " + text):
        assert _without_title_prefix(title, body) == _title_prefix_by_pattern(title, body)
