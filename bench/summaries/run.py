"""Summary and article-extraction benchmark (issue 7): one command, a table and a JSON file.

    .venv/bin/python bench/summaries/run.py [--limit N] [--json PATH] [--no-extraction]

Summaries: ROUGE-1/2/Lsum F1 (rouge-score, Porter stemming) of every method under Herald's alert
budget (at most 2 sentences and 300 characters) on ../shared/data/summarization, per source, on
the develop half (odd ids: used to choose the defaults) and the report half (even ids: never
looked at while choosing), with paired bootstrap 95% intervals of each Herald method against
Lead. Lead is the issue's baseline: the first sentences of the raw article that fit the budget.
Published system outputs are cut to the same budget the same way. Speed (median ms/article) and
peak RSS added by summarizing every article are measured in a fresh subprocess per method.

Extraction: token precision/recall of bot.article.extract_article on the 60 pages of
../shared/data/articles (readability and scrapinghub suites: tokens against the expected text;
trafilatura suite: its must-contain / must-not-contain snippets).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.summarize import (  # noqa: E402
    ExtractiveSummarizer,
    LeadSummarizer,
    split_sentences,
)

DATA = REPO.parent / "shared" / "data"
SUMM = DATA / "summarization"
ARTICLES = DATA / "articles"
MAX_CHARS = 300
MAX_SENTENCES = 2
SOURCES = ("cnndm-test", "xsum-test")
SPLITS = ("develop", "report", "all")
METRICS = ("rouge1", "rouge2", "rougeLsum")
BOOTSTRAP = 2000

# The issue's table, measured before Herald had a summarizer (R1/R2 under the alert budget).
ISSUE_ROWS: list[tuple[str, str, str, str]] = [
    ("Lead (first sentences that fit)", "36.0 / 14.8", "18.6 / 2.1", "0.2"),
    ("sumy LexRank", "32.5 / 11.5", "19.3 / 2.9", "6"),
    ("TextRank + position prior", "37.3 / 15.4", "19.4 / 2.5", "5.5"),
    ("MiniLM centroid + position (ONNX int8)", "37.0 / 15.2", "19.3 / 2.3", "70 (410 MB)"),
    ("extractive oracle (ceiling)", "48.9 / 27.5", "30.7 / 8.6", "–"),
    ("BART-large-CNN (published outputs)", "41.5 / 21.2", "–", "GPU model"),
]

Summarize = Callable[[str], str]


def lead_fit(text: str) -> str:
    """The issue's Lead: the first sentences of the raw text that fit the budget, in order."""
    chosen: list[str] = []
    for sentence in split_sentences(text):
        if len(chosen) == MAX_SENTENCES:
            break
        if len(" ".join([*chosen, sentence])) <= MAX_CHARS:
            chosen.append(sentence)
    return " ".join(chosen)


def herald_methods() -> dict[str, Summarize]:
    extractive, lead = ExtractiveSummarizer(), LeadSummarizer()
    return {
        "Herald extractive (default)": lambda t: extractive.summarize(
            "", t, max_chars=MAX_CHARS, max_sentences=MAX_SENTENCES
        ),
        "Herald lead": lambda t: lead.summarize(
            "", t, max_chars=MAX_CHARS, max_sentences=MAX_SENTENCES
        ),
    }


def split_of(row_id: str) -> str:
    # Ids end in a hex hash (CNN/DM) or a decimal BBC id (XSum): the last digit's parity is the
    # number's parity either way.
    return "develop" if int(row_id[-1], 16) % 2 else "report"


def load_rows(limit: int | None) -> list[dict[str, Any]]:
    with (SUMM / "data.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    if limit:
        rows = [r for s in SOURCES for r in [x for x in rows if x["source"] == s][:limit]]
    return rows


def load_system_outputs(ids: set[str]) -> dict[str, dict[str, str]]:
    path = SUMM / "system_outputs.jsonl"
    out: dict[str, dict[str, str]] = {}
    if not path.is_file():
        return out
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["id"] in ids:
                out.setdefault(rec["system"], {})[rec["id"]] = rec["summary"]
    return out


class Scorer:
    def __init__(self) -> None:
        from rouge_score import rouge_scorer

        self._scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)

    def score(self, reference: str, candidate: str) -> dict[str, float]:
        # rougeLsum treats newlines as sentence boundaries.
        ref = "\n".join(split_sentences(reference))
        cand = "\n".join(split_sentences(candidate))
        result = self._scorer.score(ref, cand)
        return {m: 100 * result[m].fmeasure for m in METRICS}


def bootstrap(values: Sequence[float], *, seed: int = 7) -> tuple[float, float]:
    """Percentile 95% interval of the mean of ``values`` (paired differences or scores)."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(BOOTSTRAP, arr.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return (float(lo), float(hi))


def evaluate(
    rows: Sequence[dict[str, Any]],
    methods: dict[str, Summarize],
    published: dict[str, dict[str, str]],
) -> dict[str, Any]:
    scorer = Scorer()
    per: dict[str, dict[str, dict[str, float]]] = {}  # method -> id -> metric -> score
    for name, fn in {"Lead (first sentences that fit)": lead_fit, **methods}.items():
        per[name] = {r["id"]: scorer.score(r["reference"], fn(r["article"])) for r in rows}
    for system, outputs in sorted(published.items()):
        name = f"{system} (published, cut to budget)"
        per[name] = {
            r["id"]: scorer.score(r["reference"], lead_fit(outputs[r["id"]]))
            for r in rows
            if r["id"] in outputs
        }
    lead = per["Lead (first sentences that fit)"]
    results: dict[str, Any] = {}
    for name, scores in per.items():
        entry: dict[str, Any] = {}
        for source in SOURCES:
            for split in SPLITS:
                ids = [
                    r["id"]
                    for r in rows
                    if r["source"] == source
                    and r["id"] in scores
                    and (split == "all" or split_of(r["id"]) == split)
                ]
                if not ids:
                    continue
                cell: dict[str, Any] = {"n": len(ids)}
                for m in METRICS:
                    vals = [scores[i][m] for i in ids]
                    cell[m] = statistics.fmean(vals)
                    cell[f"{m}_ci"] = bootstrap(vals)
                    if name in methods:
                        diffs = [scores[i][m] - lead[i][m] for i in ids]
                        cell[f"{m}_vs_lead"] = statistics.fmean(diffs)
                        cell[f"{m}_vs_lead_ci"] = bootstrap(diffs)
                entry.setdefault(source, {})[split] = cell
        results[name] = entry
    return results


# --------------------------------------------------------------------------------------------
# Speed and memory, each method in a fresh interpreter
# --------------------------------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _hwm_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_child(method: str, limit: int | None) -> None:
    rows = load_rows(limit)
    # Loading the JSON peaks higher than what stays resident: reset the high-water mark
    # (Linux: "5" to clear_refs) so the peak below is the summarizer's own.
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        pass
    base_rss = _rss_mb()
    fn = lead_fit if method == "Lead (first sentences that fit)" else herald_methods()[method]
    fn(rows[0]["article"])  # warm regex caches
    times: list[float] = []
    for r in rows:
        start = time.perf_counter()
        fn(r["article"])
        times.append((time.perf_counter() - start) * 1000)
    peak = _hwm_mb()
    print(
        json.dumps(
            {
                "median_ms": statistics.median(times),
                "p95_ms": sorted(times)[int(0.95 * (len(times) - 1))],
                "peak_rss_mb": peak,
                "added_rss_mb": max(0.0, peak - base_rss),
            }
        )
    )


def measure(method: str, limit: int | None) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--measure-child", method]
    if limit:
        cmd += ["--limit", str(limit)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------------------------
# Article extraction
# --------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+")


def _tokens(text: str) -> Counter[str]:
    return Counter(_TOKEN.findall(text.casefold()))


def _pr(got: str, expected: str) -> tuple[float, float]:
    g, e = _tokens(got), _tokens(expected)
    common = sum((g & e).values())
    precision = common / sum(g.values()) if g else 0.0
    recall = common / sum(e.values()) if e else 0.0
    return precision, recall


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def evaluate_extraction(limit: int | None = None) -> dict[str, Any]:
    import lxml.html

    from bot.article import extract_article

    pages: list[dict[str, Any]] = []
    times: list[float] = []

    def run(html: bytes, url: str | None) -> str:
        start = time.perf_counter()
        text = extract_article(html, url)
        times.append((time.perf_counter() - start) * 1000)
        return text

    for folder in sorted((ARTICLES / "readability").iterdir())[:limit]:
        expected = lxml.html.fromstring((folder / "expected.html").read_bytes()).text_content()
        p, r = _pr(run((folder / "source.html").read_bytes(), None), expected)
        pages.append({"suite": "readability", "page": folder.name, "precision": p, "recall": r})
    truth = json.loads((ARTICLES / "scrapinghub-aeb" / "ground-truth.selected.json").read_text())
    for key, item in sorted(truth.items())[:limit]:
        html = gzip.decompress(
            (ARTICLES / "scrapinghub-aeb" / "html" / f"{key}.html.gz").read_bytes()
        )
        p, r = _pr(run(html, item.get("url")), item["articleBody"])
        pages.append({"suite": "scrapinghub-aeb", "page": key[:16], "precision": p, "recall": r})
    snippets = json.loads((ARTICLES / "trafilatura" / "evaldata.selected.json").read_text())
    tp = fn = fp = tn = 0
    for url, item in sorted(snippets.items())[:limit]:
        text = run((ARTICLES / "trafilatura" / "html" / item["file"]).read_bytes(), url)
        folded = " ".join(text.split()).casefold()
        hits = [" ".join(s.split()).casefold() in folded for s in item["with"]]
        leaks = [" ".join(s.split()).casefold() in folded for s in item["without"]]
        tp += sum(hits)
        fn += len(hits) - sum(hits)
        fp += sum(leaks)
        tn += len(leaks) - sum(leaks)
        pages.append(
            {
                "suite": "trafilatura",
                "page": item["file"],
                "with_found": sum(hits),
                "with_total": len(hits),
                "without_found": sum(leaks),
                "without_total": len(leaks),
            }
        )
    summary: dict[str, Any] = {"pages": len(pages), "median_ms": statistics.median(times)}
    for suite in ("readability", "scrapinghub-aeb"):
        rows = [p for p in pages if p["suite"] == suite]
        prec = statistics.fmean(p["precision"] for p in rows)
        rec = statistics.fmean(p["recall"] for p in rows)
        summary[suite] = {
            "pages": len(rows),
            "precision": prec,
            "recall": rec,
            "f1": statistics.fmean(_f1(p["precision"], p["recall"]) for p in rows),
        }
    snip_p = tp / (tp + fp) if tp + fp else 0.0
    snip_r = tp / (tp + fn) if tp + fn else 0.0
    summary["trafilatura"] = {
        "pages": sum(1 for p in pages if p["suite"] == "trafilatura"),
        "precision": snip_p,
        "recall": snip_r,
        "f1": _f1(snip_p, snip_r),
        "with_found": tp,
        "with_missed": fn,
        "without_leaked": fp,
        "without_kept_out": tn,
    }
    token_pages = [p for p in pages if "precision" in p]
    summary["token_pages"] = len(token_pages)
    summary["token_precision"] = statistics.fmean(p["precision"] for p in token_pages)
    summary["token_recall"] = statistics.fmean(p["recall"] for p in token_pages)
    summary["per_page"] = pages
    return summary


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _cell(entry: dict[str, Any], source: str, split: str = "all") -> str:
    cell = entry.get(source, {}).get(split)
    if not cell:
        return "–"
    return f"{cell['rouge1']:.1f} / {cell['rouge2']:.1f}"


def render(report: dict[str, Any]) -> str:
    lines = [
        f"Summaries under the alert budget (≤ {MAX_SENTENCES} sentences, ≤ {MAX_CHARS} chars), "
        "ROUGE F1 R1 / R2 (rouge-score, Porter stemming), all articles",
        "",
        "| method | CNN/DM | XSum | ms/article |",
        "|---|---|---|---|",
    ]
    for name, cnn, xsum, ms in ISSUE_ROWS:
        lines.append(f"| {name} *(issue)* | {cnn} | {xsum} | {ms} |")
    speed = report.get("speed", {})
    for name, entry in report["summaries"].items():
        sp = speed.get(name)
        ms = f"{sp['median_ms']:.2f} (+{sp['added_rss_mb']:.0f} MB)" if sp else "–"
        lines.append(
            f"| **{name}** *(measured)* | {_cell(entry, 'cnndm-test')} | "
            f"{_cell(entry, 'xsum-test')} | {ms} |"
        )
    lines += ["", "Herald vs Lead, paired bootstrap 95% intervals (R1 / R2 / RLsum):", ""]
    lines.append(
        "| method | source | split | n | R1 [95% CI] | ΔR1 vs Lead [95% CI] | R2 | ΔR2 | RLsum |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for name, entry in report["summaries"].items():
        if not name.startswith("Herald"):
            continue
        for source in SOURCES:
            for split in SPLITS:
                c = entry.get(source, {}).get(split)
                if not c:
                    continue
                lo, hi = c["rouge1_ci"]
                dlo, dhi = c["rouge1_vs_lead_ci"]
                d2lo, d2hi = c["rouge2_vs_lead_ci"]
                lines.append(
                    f"| {name} | {source} | {split} | {c['n']} | {c['rouge1']:.2f} "
                    f"[{lo:.2f}, {hi:.2f}] | {c['rouge1_vs_lead']:+.2f} [{dlo:+.2f}, {dhi:+.2f}] "
                    f"| {c['rouge2']:.2f} | {c['rouge2_vs_lead']:+.2f} [{d2lo:+.2f}, {d2hi:+.2f}] "
                    f"| {c['rougeLsum']:.2f} |"
                )
    ext = report.get("extraction")
    if ext:
        lines += [
            "",
            f"Article extraction (trafilatura via bot.article), {ext['pages']} pages, "
            f"median {ext['median_ms']:.0f} ms/page:",
            "",
            "| suite | pages | precision | recall | F1 |",
            "|---|---|---|---|---|",
        ]
        for suite in ("readability", "scrapinghub-aeb", "trafilatura"):
            s = ext[suite]
            how = " (snippets)" if suite == "trafilatura" else " (tokens)"
            lines.append(
                f"| {suite}{how} | {s['pages']} | {s['precision']:.3f} | {s['recall']:.3f} "
                f"| {s['f1']:.3f} |"
            )
        lines.append(
            f"| token pages overall | {ext['token_pages']} | {ext['token_precision']:.3f} "
            f"| {ext['token_recall']:.3f} | – |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N articles per source")
    parser.add_argument(
        "--json", type=Path, default=Path(__file__).with_name("results.json"), help="output"
    )
    parser.add_argument("--no-extraction", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--measure-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure_child:
        measure_child(args.measure_child, args.limit)
        return 0
    if not (SUMM / "data.jsonl").is_file():
        print(f"evaluation data not found at {SUMM}", file=sys.stderr)
        return 2
    rows = load_rows(args.limit)
    methods = herald_methods()
    report: dict[str, Any] = {
        "budget": {"max_sentences": MAX_SENTENCES, "max_chars": MAX_CHARS},
        "articles": len(rows),
        "split": "develop = odd ids (defaults chosen here), report = even ids",
        "bootstrap_resamples": BOOTSTRAP,
        "summaries": evaluate(rows, methods, load_system_outputs({r["id"] for r in rows})),
    }
    if not args.no_speed:
        report["speed"] = {
            name: measure(name, args.limit)
            for name in ["Lead (first sentences that fit)", *methods]
        }
    if not args.no_extraction:
        report["extraction"] = evaluate_extraction(args.limit)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(render(report))
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
