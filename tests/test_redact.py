"""Secrets never leave in a log line or an error: redaction at the boundary (bot/redact.py)."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.redact import MASK, MIN_SECRET_LENGTH, RedactingFilter, Redactor, install, redact
from tests.fakes.feed_server import FeedServer

DISCORD_TOKEN = "MTI3NzQ1NjczODkwMTIzNDU2Nw.GxYzAb.q1W2e3R4t5Y6u7I8o9P0a1S2d3F4g5H6j7K8"
SLACK_BOT = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"login failed for {SLACK_BOT}", SLACK_BOT),
        ("user token xoxp-11111-22222-33333-abcdef", "xoxp-11111-22222-33333-abcdef"),
        ("app token xapp-1-A0123-456-deadbeefcafe", "xapp-1-A0123-456-deadbeefcafe"),
        (f"discord said 401 for token {DISCORD_TOKEN}", DISCORD_TOKEN),
        ("headers={'Authorization': 'Bot abc.DEF-ghi_jkl.mno'}", "abc.DEF-ghi_jkl.mno"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ("-H 'authorization: s3cr3t-value-123'", "s3cr3t-value-123"),
        (
            "POST https://discord.com/api/v10/webhooks/123456789/aW50ZXJhY3Rpb246MTIz?wait=true",
            "aW50ZXJhY3Rpb246MTIz",
        ),
        ("hook https://canary.discordapp.com/api/webhooks/42/TOKEN_part-x", "TOKEN_part-x"),
        (
            "slack hook https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXX failed",
            "XXXXXXXXXXXXXXXXXXXX",
        ),
        ("cannot fetch https://reader:hunter2pass@feeds.example/rss", "hunter2pass"),
        ("db postgresql+asyncpg://herald:p%40ss:w0rd@db:5432/herald", "p%40ss:w0rd"),
        ("unencoded @ in it: https://u:pa@ss-word@host.example/x", "pa@ss-word"),
        ("signed https://f.example/feed?id=3&token=abc123def456&x=1", "abc123def456"),
        ("https://f.example/feed?api_key=K3Y-VALUE", "K3Y-VALUE"),
    ],
)
def test_credentials_are_masked(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert MASK in out


@pytest.mark.parametrize(
    "text",
    [
        "NATO summit in Brussels: ministers agreed a plan",
        "https://news.example/story/1?utm_source=rss&id=7",
        "http://127.0.0.1:8080/feed.xml: HTTP 404 Not Found",
        "write to editor@news.example about version 1.2.3",
        "Bot started; Bearer of bad news",  # the words alone are no header
        "feed world.example.org timed out after 60 s",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_the_user_stays_visible_and_the_host_too() -> None:
    assert redact("https://reader:hunter2pass@feeds.example/rss") == (
        "https://reader:***@feeds.example/rss"
    )
    assert redact("https://discord.com/api/webhooks/123/tok3n") == (
        "https://discord.com/api/webhooks/123/***"
    )


def test_secret_env_values_are_masked_in_every_form(monkeypatch: pytest.MonkeyPatch) -> None:
    odd = "plain-Secret/with spaces+and=signs"
    monkeypatch.setenv("HERALD_SLACK_SIGNING_SECRET", odd)
    monkeypatch.setenv("HERALD_CUSTOM_API_KEY", "another-long-credential")
    monkeypatch.setenv("HERALD_STORAGE__URL", "sqlite:///var/herald.db")  # not a secret
    text = f"sig {odd} in url ?s={quote(odd, safe='')} and another-long-credential at var/herald.db"
    out = redact(text)
    assert odd not in out and quote(odd, safe="") not in out
    assert "another-long-credential" not in out
    assert "var/herald.db" in out


def test_short_values_are_not_treated_as_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 3-character "secret" would otherwise mask every "abc" in every log line.
    monkeypatch.setenv("HERALD_DISCORD_TOKEN", "abc")
    assert redact("abc news") == "abc news"


def test_registered_secrets_and_longest_first() -> None:
    r = Redactor(["outer-secret-value-long", "secret-value"], env={})
    assert r("a outer-secret-value-long b secret-value") == "a *** b ***"


def test_redaction_is_idempotent() -> None:
    text = f"{SLACK_BOT} https://u:pw123456@h.example/?token=zzzzzzzz Bot {DISCORD_TOKEN}"
    once = redact(text)
    assert redact(once) == once


_secret_chars = st.characters(min_codepoint=33, max_codepoint=0x2FF, blacklist_characters="*")


@given(
    secret=st.text(_secret_chars, min_size=8, max_size=40),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_a_registered_secret_never_survives(secret: str, before: str, after: str) -> None:
    # Shorter values are not secrets worth redacting (they would blank out ordinary words).
    assume(len(secret.strip()) >= MIN_SECRET_LENGTH)
    r = Redactor([secret], env={})
    assert secret.strip() not in r(before + secret + after)


# -- the logging boundary ----------------------------------------------------------------------


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A private logger tree with one stream handler on its parent, redaction installed."""
    # Propagating, so pytest attaches none of its own capture handlers to it.
    parent = logging.getLogger("redact-test")
    parent.setLevel(logging.DEBUG)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    parent.addHandler(handler)
    assert install(parent) == 1
    assert install(parent) == 1  # idempotent: still one filter, one wrapper
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    try:
        yield logging.getLogger("redact-test.child"), stream
    finally:
        parent.removeHandler(handler)


def test_log_args_messages_and_tracebacks_are_redacted(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = captured
    log.info("connecting with %s to %s", SLACK_BOT, "https://u:pw-secret@h.example/")
    try:
        raise RuntimeError(f"bad token {DISCORD_TOKEN}")
    except RuntimeError:
        log.exception("adapter failed")
    log.warning("dict args %(tok)s", {"tok": SLACK_BOT})
    out = stream.getvalue()
    assert SLACK_BOT not in out and DISCORD_TOKEN not in out and "pw-secret" not in out
    assert "RuntimeError: bad token ***" in out  # the traceback is kept, minus the secret
    assert "redact-test.child" in out and out.count("\n") >= 4


def test_a_broken_format_string_still_logs_without_leaking(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = captured
    log.error("two placeholders %s %s, one arg", SLACK_BOT)
    out = stream.getvalue()
    assert "two placeholders" in out and SLACK_BOT not in out


async def test_aiohttp_exception_messages_are_redacted(feed_server: FeedServer) -> None:
    """aiohttp puts the full URL, query string included, into its exception messages."""
    feed_server.status("/private.xml", 403)
    url = feed_server.url("/private.xml") + "?token=feed-secret-123456"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientResponseError) as info:
            async with session.get(url, raise_for_status=True):
                pass
    raw = str(info.value)
    assert "feed-secret-123456" in raw  # the hazard is real
    assert "feed-secret-123456" not in redact(raw)
    assert "403" in redact(raw)


# -- the CLI boundary ----------------------------------------------------------------------------


def test_the_cli_never_logs_a_feed_password(tmp_path: Path) -> None:
    """A feed URL with credentials that fails to fetch: its password must not reach stderr."""
    secret = "hunter2-feed-password"
    url = f"http://reader:{secret}@127.0.0.1:9/feed.xml"  # discard port: the fetch fails
    config = tmp_path / "herald.toml"
    config.write_text(
        "[storage]\n"
        'url = "sqlite:///var/herald.db"\n'
        "[fetch]\n"
        "allow_private_networks = true\n"
        "[[feeds]]\n"
        f'url = "{url}"\n'
        "[adapters.console]\n"
        "enabled = true\n"
        'format = "jsonl"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--once", "--config", str(config)],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "127.0.0.1" in done.stderr  # the failure was logged...
    assert secret not in done.stderr + done.stdout  # ...without the password
