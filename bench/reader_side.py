"""The peer: the ``reader`` library ingesting the same feed farm (cold, then warm).

Run by ``bench.run`` as a child process so its peak RSS is its own; prints one JSON object.
``update_feeds(workers=4)`` as reader documents it; the warm round passes ``scheduled=False``,
since reader would otherwise skip feeds whose update interval has not passed yet.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def run(urls: list[str], workers: int) -> dict[str, Any]:
    from reader import make_reader

    out: dict[str, Any] = {"feeds": len(urls), "workers": workers}
    with tempfile.TemporaryDirectory(prefix="reader-bench-") as tmp:
        r = make_reader(str(Path(tmp) / "reader.sqlite"), search_enabled=False)
        try:
            t = time.perf_counter()
            for u in urls:
                r.add_feed(u)
            out["setup_s"] = round(time.perf_counter() - t, 2)

            t = time.perf_counter()
            r.update_feeds(workers=workers)
            cold_s = time.perf_counter() - t
            entries = r.get_entry_counts().total
            broken = r.get_feed_counts().broken
            out["cold"] = {
                "seconds": round(cold_s, 2),
                "feeds_ok": len(urls) - (broken or 0),
                "entries_stored": entries,
                "feeds_per_s": round(len(urls) / cold_s, 1),
                "entries_per_s": round((entries or 0) / cold_s, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }

            t = time.perf_counter()
            r.update_feeds(workers=workers, scheduled=False)
            warm_s = time.perf_counter() - t
            out["warm"] = {"seconds": round(warm_s, 2), "feeds_per_s": round(len(urls) / warm_s, 1)}
            out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        finally:
            r.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--spec", required=True)
    p.add_argument("--workers", type=int, default=4)
    args = p.parse_args()
    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    urls = [f"{spec['farm']}/f/{k}/{name}" for k, name in enumerate(spec["names"])]
    json.dump(run(urls, args.workers), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
