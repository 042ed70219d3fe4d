"""The ``herald`` command as a user runs it: a real subprocess against a local feed server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import Item, rss

REPO = Path(__file__).resolve().parents[1]
SECRET = "xoxb-very-secret-token-value"


def herald(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_config(tmp_path: Path, feed_url: str) -> Path:
    config = tmp_path / "herald.toml"
    config.write_text(f"""
[storage]
url = "sqlite:///var/herald.db"
[fetch]
allow_private_networks = true
[delivery]
pace_seconds = 0.01
[[feeds]]
url = "{feed_url}"
name = "World"
[[topics]]
name = "nato"
query = 'nato OR "north atlantic" OR alliance'
[[subscriptions]]
platform = "console"
channel = "desk"
topic = "nato"
[adapters.console]
enabled = true
format = "jsonl"
""")
    return config


async def aherald(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # The feed server lives on this test's event loop: keep it serving while the CLI runs.
    return await asyncio.to_thread(herald, *args, cwd=cwd)


def alerts(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


NEWS = [
    Item(
        "Alliance ministers meet in Brussels",
        "https://w.example/a/1",
        "g1",
        "The North Atlantic alliance met. Ministers agreed a plan.",
    ),
    Item("Weather: a sunny weekend", "https://w.example/a/2", "g2", "Sun everywhere."),
]


async def test_run_once_posts_two_new_items_then_nothing(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.set("/world.xml", rss(NEWS))
    config = write_config(tmp_path, feed_server.url("/world.xml"))

    first = await aherald("run", "--config", str(config), "--once", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert alerts(first.stdout) == []  # first poll of a new feed: existing items marked seen
    assert (tmp_path / "var" / "herald.db").exists()

    gained = [
        Item(
            "NATO summit opens in Vilnius",
            "https://w.example/a/3?utm_source=rss",
            "g3",
            "<p>Leaders of the <b>North Atlantic</b> alliance gathered on Tuesday.</p>"
            "<p>The talks focus on air defence.</p>",
        ),
        Item("North Atlantic council adds members", "https://w.example/a/4", "g4", ""),
        Item("Football: cup final tonight", "https://w.example/a/5", "g5", "A big game."),
    ]
    feed_server.set("/world.xml", rss(gained + NEWS))
    second = await aherald("run", "--config", str(config), "--once", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    got = alerts(second.stdout)
    assert [a["title"] for a in got] == [
        "NATO summit opens in Vilnius",
        "North Atlantic council adds members",
    ]
    for a in got:
        assert a["platform"] == "console" and a["channel"] == "desk"
        assert a["topics"] == ["nato"] and a["feed"] == "World"
        assert isinstance(a["key"], str) and len(a["key"]) == 64
        assert a["published"] is None or str(a["published"]).endswith("Z")
    assert got[0]["link"] == "https://w.example/a/3?utm_source=rss"
    assert "<" not in str(got[0]["summary"]) and "North Atlantic" in str(got[0]["summary"])
    assert got[1]["summary"] == ""  # a title-only item gets no invented summary

    third = await aherald("run", "--config", str(config), "--once", cwd=tmp_path)
    assert third.returncode == 0 and alerts(third.stdout) == []


async def test_feeds_list_json_reports_health(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.status("/gone.xml", 410)
    config = write_config(tmp_path, feed_server.url("/gone.xml"))
    await aherald("run", "--config", str(config), "--once", cwd=tmp_path)
    out = await aherald("feeds", "list", "--config", str(config), "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    [feed] = json.loads(out.stdout)
    assert feed["url"] == feed_server.url("/gone.xml")
    assert feed["state"] == "failing"
    assert feed["consecutive_failures"] == 1
    assert "410" in feed["last_error"] and "\n" not in feed["last_error"]


def test_config_check_masks_secrets_and_reports_every_error(tmp_path: Path) -> None:
    good = herald(
        "config",
        "check",
        "--config",
        str(REPO / "config" / "herald.toml"),
        cwd=tmp_path,
        env={"HERALD_SLACK_BOT_TOKEN": SECRET, "HERALD_STORAGE__URL": "sqlite:///elsewhere.db"},
    )
    assert good.returncode == 0, good.stderr
    effective = json.loads(good.stdout)
    assert effective["slack_bot_token"] == "********"
    assert effective["storage"]["url"] == "sqlite:///elsewhere.db"  # env overrides the file
    assert SECRET not in good.stdout + good.stderr

    bad = tmp_path / "bad.toml"
    bad.write_text("""
slack_bot_token = "oops"
[fetch]
max_bytes = "lots"
[[feeds]]
url = "ftp://example.org/feed"
[[topics]]
name = "nato"
query = 'nato AND (alliance'
[[subscriptions]]
platform = "console"
channel = "desk"
topic = "missing"
[adapters.console]
colour = "red"
""")
    out = herald("config", "check", "--config", str(bad), cwd=tmp_path)
    assert out.returncode == 2
    for fragment in (
        "slack_bot_token",
        "fetch.max_bytes",
        "feeds.0.url",
        "topics.0",
        "adapters.console.colour",
    ):
        assert fragment in out.stderr, (fragment, out.stderr)
    assert "oops" not in out.stderr


def test_demo_config_is_valid(tmp_path: Path) -> None:
    out = herald("config", "check", "--config", str(REPO / "config" / "demo.toml"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr


def test_topics_test_and_feeds_check_need_no_storage_writes(tmp_path: Path) -> None:
    out = herald(
        "topics",
        "test",
        "nato AND (",
        "--config",
        str(REPO / "config" / "herald.toml"),
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert "^" in out.stderr  # points at the position of the problem


async def test_demo_runs_offline_and_shows_alerts(tmp_path: Path) -> None:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    full_env["HERALD_ADAPTERS__CONSOLE__FORMAT"] = "jsonl"
    proc = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "bot",
            "demo",
            "--config",
            str(REPO / "config" / "demo.toml"),
            "--seconds",
            "7",
            "--every",
            "0.5",
        ],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    got = alerts(proc.stdout)
    assert len(got) >= 3, (proc.stdout, proc.stderr)
    assert all(a["platform"] == "console" and a["channel"] == "desk" for a in got)
    assert len({a["key"] for a in got}) == len(got)  # nothing posted twice
    assert (tmp_path / "var" / "demo.db").exists()


def test_config_check_names_missing_platform_secrets(tmp_path: Path) -> None:
    out = herald(
        "config",
        "check",
        "--config",
        str(REPO / "config" / "herald.toml"),
        cwd=tmp_path,
        env={"HERALD_ADAPTERS__SLACK__ENABLED": "true"},
    )
    assert out.returncode == 2
    assert "HERALD_SLACK_BOT_TOKEN" in out.stderr
