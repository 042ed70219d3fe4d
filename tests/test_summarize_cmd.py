"""Tests for bot.summarize_cmd (``herald summarize``): JSON lines in, JSON lines out."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.summarize import split_sentences
from bot.summarize_cmd import run_summarize
from tests.support import make_settings
from tests.test_llm import FakeOpenAI, Reply, completion

ARTICLE = (
    "Flooding closed the main bridge into Riverton on Monday after the river rose two metres. "
    "Engineers said the bridge would stay shut while divers inspect its piers for damage. "
    "Officials said flooding could close the bridge again next week if rain continues. "
    "A temporary ferry will carry commuters across the river from Wednesday morning."
)


def lines(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


async def run(
    settings: Settings, text: str, method: str = "extractive", path: str | None = None
) -> tuple[int, list[dict[str, object]], str]:
    out, err = io.StringIO(), io.StringIO()
    status = await run_summarize(
        path, method, settings, stdin=io.StringIO(text), stdout=out, stderr=err
    )
    return status, [json.loads(x) for x in out.getvalue().splitlines()], err.getvalue()


@pytest.mark.parametrize("method", ["extractive", "lead"])
async def test_stdin_to_stdout(tmp_path: Path, method: str) -> None:
    settings = make_settings(tmp_path)
    text = lines(
        {"id": "a", "text": ARTICLE, "title": "Bridge closed"},
        {"id": 7, "text": ARTICLE},
        {"id": "title-only", "text": "Bridge closed", "title": "Bridge closed"},
    )
    status, out, err = await run(settings, text, method)
    assert status == 0 and err == ""
    assert [r["id"] for r in out] == ["a", 7, "title-only"]
    assert out[2]["summary"] == ""
    for record in out[:2]:
        summary = str(record["summary"])
        assert summary and len(summary) <= settings.summary.max_chars
        assert len(split_sentences(summary)) <= settings.summary.max_sentences


async def test_file_input_and_budget_from_settings(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, summary={"max_chars": 100, "max_sentences": 1})
    path = tmp_path / "in.jsonl"
    path.write_text(lines({"id": "x", "text": ARTICLE}), encoding="utf-8")
    status, out, _ = await run(settings, "", path=str(path))
    assert status == 0
    (record,) = out
    assert len(str(record["summary"])) <= 100
    assert len(split_sentences(str(record["summary"]))) == 1


async def test_bad_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    text = (
        lines({"id": 1, "text": ARTICLE})
        + "not json\n"
        + "\n"
        + lines(
            {"text": "no id"},
            {"id": 2},
            {"id": 3, "text": 5},
            {"id": [1], "text": "x"},
            {"id": 4, "text": "x", "title": 9},
            ["a", "list"],
            {"id": 5, "text": ARTICLE, "title": None},
        )
    )
    status, out, err = await run(make_settings(tmp_path), text)
    assert status == 1
    assert [r["id"] for r in out] == [1, 5]
    reported = [line.split(":")[0] for line in err.splitlines()]
    assert reported == [f"line {n}" for n in (2, 4, 5, 6, 7, 8, 9)]


async def test_unknown_method_and_missing_file(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    status, out, err = await run(settings, lines({"id": 1, "text": "x"}), "bart")
    assert status == 2 and out == [] and "extractive, lead, llm" in err
    status, out, err = await run(settings, "", path=str(tmp_path / "missing.jsonl"))
    assert status == 2 and "cannot read" in err


async def test_llm_method_uses_the_endpoint_and_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeOpenAI()
    await server.start()
    try:
        server.answer(
            Reply(completion("The bridge stays shut. A ferry starts Wednesday.")),
            Reply({"error": "overloaded"}, status=500),
        )
        monkeypatch.setenv("HERALD_LLM_API_KEY", "sk-cli")
        base = make_settings(tmp_path)
        # Until the lead adds the llm fields to SummarySettings, set them on a copy.
        summary = base.summary.model_copy(
            update={"method": "llm", "llm_base_url": server.base_url, "llm_model": "m"}
        )
        settings = base.model_copy(update={"summary": summary})
        text = lines({"id": "a", "text": ARTICLE}, {"id": "b", "text": ARTICLE})
        status, out, _ = await run(settings, text, "llm")
        assert status == 0
        assert out[0] == {"id": "a", "summary": "The bridge stays shut. A ferry starts Wednesday."}
        assert str(out[1]["summary"]).startswith("Flooding closed the main bridge")  # fallback
        assert server.headers[0]["Authorization"] == "Bearer sk-cli"
        assert server.requests[0]["model"] == "m"
    finally:
        await server.stop()
