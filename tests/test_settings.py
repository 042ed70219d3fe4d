"""Configuration: every error at once with its key path, env overrides, secrets from env only."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings

REPO = Path(__file__).resolve().parents[1]


def test_shipped_configs_are_valid() -> None:
    default = load_settings(REPO / "config" / "herald.toml")
    assert default.storage.url == "sqlite:///var/herald.db"
    assert default.fetch.max_bytes == 5 * 1024 * 1024 and not default.fetch.allow_private_networks
    demo = load_settings(REPO / "config" / "demo.toml")
    assert {t.name for t in demo.topics} >= {"nato", "eu"}


def test_every_problem_is_reported_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("""
[schedule]
interval = 10
[[feeds]]
url = "file:///etc/passwd"
[[feeds]]
url = "https://ok.example/feed"
interval = "often"
[[topics]]
name = "Bad Name!"
query = "x"
[[topics]]
name = "nato"
query = '"unterminated'
""")
    with pytest.raises(ConfigError) as caught:
        load_settings(bad)
    text = "\n".join(caught.value.problems)
    for fragment in ("feeds.0.url", "feeds.1.interval", "topics.0", "topics.1"):
        assert fragment in text, text
    assert len(caught.value.problems) >= 4


def test_cross_checks(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("""
[[feeds]]
url = "https://a.example/f"
[[feeds]]
url = "https://a.example/f"
interval = 5
[[subscriptions]]
platform = "slack"
channel = "C1"
topic = "ghost"
""")
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg)
    text = "\n".join(caught.value.problems)
    assert "duplicate feed" in text and "below the minimum" in text and "unknown topic" in text


def test_environment_overrides_nested_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_ADAPTERS__SLACK__PORT", "8123")
    monkeypatch.setenv("HERALD_FETCH__MAX_BYTES", "2048")
    monkeypatch.setenv("HERALD_DISCORD_TOKEN", "discord-secret")
    s = load_settings(REPO / "config" / "herald.toml")
    assert s.adapters.slack.port == 8123
    assert s.adapters.slack.mode == "socket"  # the rest of the section still comes from the file
    assert s.fetch.max_bytes == 2048
    assert s.secret("discord_token") == "discord-secret"
    assert "discord-secret" not in repr(s) and "discord-secret" not in str(s.masked())


def test_secrets_in_the_file_are_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text('discord_token = "abc123"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg)
    assert "HERALD_DISCORD_TOKEN" in str(caught.value) and "abc123" not in str(caught.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[storage\nurl=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)
