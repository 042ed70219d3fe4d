"""``herald summarize``: summarize JSON lines from a file or stdin, write JSON lines to stdout.

Input lines are objects with ``id`` (any JSON scalar, echoed back), ``text`` and an optional
``title``; each output line is ``{"id": ..., "summary": ...}`` in input order. A line that is not
such an object is reported on stderr with its line number and skipped; the exit status is then
1 (0 when every line was summarized, 2 for an unknown method or unreadable input). Admins use it
to try the summarizer on their own text; the acceptance check drives it. The budget comes from
``summary.max_chars`` / ``summary.max_sentences``; no article is fetched.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, TextIO

from bot.clock import SystemClock
from bot.llm import LLMSummarizer
from bot.settings import Settings
from bot.summarize import ExtractiveSummarizer, make_summarizer
from bot.summary_service import llm_config

__all__ = ["METHODS", "run_summarize"]

METHODS = ("extractive", "lead", "llm")


def _parse(line: str) -> tuple[Any, str, str]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    if "id" not in record or isinstance(record["id"], dict | list):
        raise ValueError('needs an "id" (string or number)')
    text, title = record.get("text"), record.get("title", "")
    if not isinstance(text, str):
        raise ValueError('needs a "text" string')
    if title is None:
        title = ""
    if not isinstance(title, str):
        raise ValueError('"title" must be a string')
    return record["id"], text, title


def _read_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return fh.readlines()


async def run_summarize(
    args_input: str | None,
    method: str,
    settings: Settings,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command; ``args_input`` is a path, or None / "-" for stdin. Returns the status."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    if method not in METHODS:
        print(f"unknown method {method!r}; known: {', '.join(METHODS)}", file=err)
        return 2
    try:
        if args_input in (None, "-"):
            lines = await asyncio.to_thread((stdin or sys.stdin).readlines)
        else:
            lines = await asyncio.to_thread(_read_lines, args_input)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {args_input or 'stdin'}: {exc}", file=err)
        return 2
    budget = settings.summary
    llm: LLMSummarizer | None = None
    if method == "llm":
        llm = LLMSummarizer(
            llm_config(settings), clock=SystemClock(), fallback=ExtractiveSummarizer()
        )
    summarizer = make_summarizer("extractive" if method == "llm" else method)
    status = 0
    try:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item_id, text, title = _parse(line)
            except ValueError as exc:
                print(f"line {number}: {exc}", file=err)
                status = 1
                continue
            if llm is not None:
                summary = await llm.summarize(
                    f"cli:{number}",
                    title,
                    text,
                    max_chars=budget.max_chars,
                    max_sentences=budget.max_sentences,
                )
            else:
                summary = summarizer.summarize(
                    title, text, max_chars=budget.max_chars, max_sentences=budget.max_sentences
                )
            out.write(json.dumps({"id": item_id, "summary": summary}, ensure_ascii=False) + "\n")
        out.flush()
    finally:
        if llm is not None:
            await llm.close()
    return status
