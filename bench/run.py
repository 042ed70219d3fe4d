"""The benchmark suite: one command, a printed table, results as JSON under ``bench/results/``.

``python -m bench`` (defaults: 2,000 feeds, 5 subscriptions per feed, 200 latency trials,
fan-out to 5,000 Discord channels); ``--feeds 10000`` for the big run. Every server runs on
127.0.0.1 in its own process (the feed farm, the fake Discord), and so does each system under
test (Herald, then ``reader`` on a fresh farm, then the fan-out), so each peak RSS is its own
and the two ingesters never share the CPU. Figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.farm import FEEDS_DIR, load_templates

RESULTS = Path(__file__).resolve().parent / "results"


@contextlib.contextmanager
def server(args: list[str], log: Path) -> Iterator[dict[str, Any]]:
    """A child server that prints its address as one JSON line and stops when stdin closes."""
    with log.open("a", encoding="utf-8") as err:
        proc = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{args} did not start; see {log}")
            yield json.loads(line)
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def child(args: list[str], log: Path) -> dict[str, Any]:
    with log.open("a", encoding="utf-8") as err:
        done = subprocess.run(
            [sys.executable, *args], stdout=subprocess.PIPE, stderr=err, text=True, check=False
        )
    if done.returncode != 0 or not done.stdout.strip():
        return {"failed": f"exit {done.returncode}; see {log}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def farm_spec(n: int, farm: dict[str, Any], path: Path) -> Path:
    templates = load_templates()
    spec = {
        "farm": farm["base_url"],
        "names": [templates[k % len(templates)].name.replace("/", "_") for k in range(n)],
        "churnable": [k for k in range(n) if templates[k % len(templates)].churnable],
    }
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def ratio(a: Any, b: Any) -> float | None:
    try:
        return round(float(a) / float(b), 2)
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _get(d: dict[str, Any], *path: str) -> Any:
    cur: Any = d
    for p in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


_CPU_PARTS = ("main", "parse_workers", "machine")  # as bench.herald_side.cpu_seconds gives them


def summarize(r: dict[str, Any]) -> list[tuple[str, Any, Any, Any, str]]:
    """Rows of (metric, Herald, reader, Herald/reader, target)."""
    h, rd, f = r.get("herald", {}), r.get("reader", {}), r.get("fanout", {})
    rows: list[tuple[str, Any, Any, Any, str]] = []

    def row(name: str, hv: Any, rv: Any = None, target: str = "") -> None:
        rows.append((name, hv, rv, ratio(hv, rv) if rv is not None else None, target))

    def cpu_row(name: str, phase: str, key: str, parts: tuple[str, ...] = _CPU_PARTS) -> None:
        cpu = _get(h, phase, key) or {}
        if cpu:
            row(name, " / ".join(str(cpu[p]) for p in parts))

    row("cold ingest: seconds", _get(h, "cold", "seconds"), _get(rd, "cold", "seconds"))
    row("cold ingest: feeds ok", _get(h, "cold", "feeds_ok"), _get(rd, "cold", "feeds_ok"))
    row(
        "cold ingest: entries stored",
        _get(h, "cold", "entries_stored"),
        _get(rd, "cold", "entries_stored"),
    )
    row("cold ingest: feeds/s", _get(h, "cold", "feeds_per_s"), _get(rd, "cold", "feeds_per_s"))
    row(
        "cold ingest: entries/s",
        _get(h, "cold", "entries_per_s"),
        _get(rd, "cold", "entries_per_s"),
        ">= 5x reader",
    )
    cpu_row("cold ingest: CPU s main / parse workers / machine", "cold", "cpu_s")
    row("peak RSS after cold, MB", _get(h, "cold", "peak_rss_mb"), _get(rd, "cold", "peak_rss_mb"))
    row(
        "peak RSS whole run, MB",
        h.get("peak_rss_mb"),
        rd.get("peak_rss_mb"),
        "<= 250 at 10k feeds/50k subs",
    )
    row(
        "warm poll: feeds/s",
        _get(h, "warm", "feeds_per_s"),
        _get(rd, "warm", "feeds_per_s"),
        ">= 1000 at 10k",
    )
    row(
        "churn: stories delivered/expected",
        f"{_get(h, 'churn', 'stories_delivered')}/{_get(h, 'churn', 'stories_expected')}",
    )
    row("churn: fetches alone, s", _get(h, "churn", "fetch_only_s"))
    row("churn: round start → all delivered, s", _get(h, "churn", "delivered_s"))
    row(
        "churn: delivered / fetches-alone (median)",
        _get(h, "churn", "ratio_to_fetch_only"),
        target="<= 2",
    )
    cpu_row("churn: CPU s main / parse workers / machine", "churn", "cpu_s")
    cpu_row(
        "churn: CPU s main / machine, fetches alone",
        "churn",
        "fetch_only_cpu_s",
        ("main", "machine"),
    )
    row("latency p50, ms", _get(h, "latency", "p50_ms"))
    row("latency p99, ms", _get(h, "latency", "p99_ms"), target="< 1000")
    row("fan-out: msgs/s", f.get("msgs_per_s"))
    row("fan-out: fraction of 50/s", f.get("fraction_of_50"), target=">= 0.90")
    row("fan-out: global 429s", f.get("global_429"), target="0")
    row("fan-out: route 429s", f.get("route_429"))
    return rows


def render(rows: list[tuple[str, Any, Any, Any, str]]) -> str:
    head = ("metric", "Herald", "reader", "H/r", "target")
    cells = [head] + [tuple("" if v is None else str(v) for v in r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    lines = []
    for n, c in enumerate(cells):
        lines.append(
            "  ".join(
                v.ljust(widths[i]) if i == 0 else v.rjust(widths[i]) for i, v in enumerate(c)
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--feeds", type=int, default=2000)
    p.add_argument("--subscriptions", type=int, default=None, help="default: 5 per feed")
    p.add_argument("--trials", type=int, default=200, help="latency trials")
    p.add_argument("--churn", type=float, default=0.10, help="fraction of feeds that change")
    p.add_argument("--churn-rounds", type=int, default=3, help="churn rounds (median reported)")
    p.add_argument("--fanout-channels", type=int, default=5000)
    p.add_argument("--skip", action="append", default=[], choices=["herald", "reader", "fanout"])
    p.add_argument(
        "--profile",
        action="store_true",
        help="profile Herald's cold/warm/fan-out with pyinstrument (slower figures)",
    )
    p.add_argument("--out", type=Path, default=None, help="JSON path (default: bench/results/)")
    args = p.parse_args(argv)
    if not FEEDS_DIR.is_dir():
        print(f"no feed corpus at {FEEDS_DIR} (../shared/data/feeds)", file=sys.stderr)
        return 2
    subs = args.subscriptions if args.subscriptions is not None else 5 * args.feeds
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = RESULTS / f"{stamp}-n{args.feeds}"
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / "children.log"
    profile = ["--profile-dir", str(run_dir)] if args.profile else []
    results: dict[str, Any] = {
        "config": {
            "feeds": args.feeds,
            "subscriptions": subs,
            "trials": args.trials,
            "churn": args.churn,
            "churn_rounds": args.churn_rounds,
            "fanout_channels": args.fanout_channels,
            "profiled": args.profile,
            "python": sys.version.split()[0],
            "notes": [
                "Herald: delivery.pace_seconds=0 for churn/latency (pacing would measure the "
                "pause); fetch.per_host=max_concurrency=16 (one loopback host stands in for N)",
                "reader: update_feeds(workers=4); warm round with scheduled=False",
                "fan-out: real Discord adapter (discord.py) against the rate-limited fake, "
                "default pacing (one message per channel)",
            ],
        },
        "started": stamp,
    }
    t0 = time.perf_counter()
    if "herald" not in args.skip:
        print(f"herald: {args.feeds} feeds, {subs} subscriptions ...", flush=True)
        with server(["-m", "bench.farm", "--feeds", str(args.feeds)], log) as farm:
            spec = farm_spec(args.feeds, farm, run_dir / "spec.json")
            results["herald"] = child(
                [
                    "-m",
                    "bench.herald_side",
                    "--spec",
                    str(spec),
                    "--subscriptions",
                    str(subs),
                    "--trials",
                    str(args.trials),
                    "--churn",
                    str(args.churn),
                    "--churn-rounds",
                    str(args.churn_rounds),
                    *profile,
                ],
                log,
            )
    if "reader" not in args.skip:
        print(f"reader: {args.feeds} feeds ...", flush=True)
        with server(["-m", "bench.farm", "--feeds", str(args.feeds)], log) as farm:
            spec = farm_spec(args.feeds, farm, run_dir / "spec.json")
            results["reader"] = child(["-m", "bench.reader_side", "--spec", str(spec)], log)
    if "fanout" not in args.skip:
        print(f"fan-out: {args.fanout_channels} Discord channels ...", flush=True)
        with server(["-m", "bench.fake_discord"], log) as discord:
            results["fanout"] = child(
                [
                    "-m",
                    "bench.fanout",
                    "--discord",
                    json.dumps(discord),
                    "--channels",
                    str(args.fanout_channels),
                    *profile,
                ],
                log,
            )
    results["total_s"] = round(time.perf_counter() - t0, 1)
    rows = summarize(results)
    results["table"] = [
        dict(zip(("metric", "herald", "reader", "ratio", "target"), r, strict=True)) for r in rows
    ]
    out = args.out or run_dir / "results.json"
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print()
    print(render(rows))
    for side in ("herald", "reader", "fanout"):
        if "failed" in results.get(side, {}):
            print(f"{side} FAILED: {results[side]['failed']}")
    print(f"\n{results['total_s']} s; JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
