"""The crash-test driver: run ``python -m bot run`` as a subprocess and SIGKILL it on cue.

Kill points are either a timer or an event seen by the fakes, which live in the test's own event
loop: the feed server receiving a request (kill mid-fetch, or a few milliseconds later, mid-parse)
and the fake Discord accepting a message (kill before Herald reads the answer: the window between
a successful send and marking it sent). Hooks run inside the fakes' request handlers, so an
event-triggered kill lands at that exact point in Herald's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.feed_server import FeedServer

REPO = Path(__file__).resolve().parents[2]
_DIGEST_LINK = re.compile(r"\(<(https?://[^>]+)>\)")


class TrippingFeedServer(FeedServer):
    """The feed server, calling ``on_request(path)`` as each request arrives (before answering)
    and ``on_response(path)`` once the answer is built."""

    def __init__(self) -> None:
        super().__init__()
        self.on_request: Callable[[str], None] | None = None
        self.on_response: Callable[[str], None] | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.on_request is not None:
            self.on_request(request.path)
        response = await super()._handle(request)
        if self.on_response is not None:
            self.on_response(request.path)
        return response


class TrippingDiscord(FakeDiscord):
    """The fake Discord, calling ``on_accept(channel, message)`` when a post creates a new
    message -- after the fake stored it, before Herald gets the answer.

    ``nonce_window`` (seconds) makes it forget nonces like Discord does: ``enforce_nonce`` is
    only checked "in the past few minutes", so a re-send after the window posts again.
    """

    def __init__(self, payloads: Path, *, nonce_window: float | None = None) -> None:
        super().__init__(payloads)
        self.on_accept: Callable[[str, dict[str, Any]], None] | None = None
        self.nonce_window = nonce_window
        self._nonce_seen: dict[str, float] = {}

    def _post_message(self, channel: str, body: dict[str, Any]) -> web.Response:
        nonce = body.get("nonce")
        first = self._nonce_seen.get(str(nonce)) if nonce is not None else None
        if (
            self.nonce_window is not None
            and first is not None
            and time.monotonic() - first > self.nonce_window
        ):
            body = {**body, "enforce_nonce": False}
        before = len(self.messages.get(channel, []))
        response = super()._post_message(channel, body)
        sent = self.messages.get(channel, [])
        if len(sent) > before:
            if nonce is not None:
                self._nonce_seen.setdefault(str(nonce), time.monotonic())
            if self.on_accept is not None:
                self.on_accept(channel, sent[-1])
        return response


def links_in(message: dict[str, Any]) -> list[str]:
    """The story links one accepted message carries: a story embed's url, or a digest's list."""
    out: list[str] = []
    for embed in message.get("embeds") or []:
        if embed.get("url"):
            out.append(str(embed["url"]))
        else:
            out.extend(_DIGEST_LINK.findall(str(embed.get("description") or "")))
    return out


def delivered(fake: FakeDiscord) -> Counter[tuple[str, str]]:
    """How many times each (channel, story link) reached a channel as a new message."""
    counts: Counter[tuple[str, str]] = Counter()
    for channel, messages in fake.messages.items():
        for message in messages:
            for link in links_in(message):
                counts[(channel, link)] += 1
    return counts


@dataclass
class HeraldProcess:
    """One ``python -m bot run`` in ``cwd``; output appended to ``log``. Own session, so any
    child process it leaves behind can be found by its process group."""

    config: Path
    cwd: Path
    env: dict[str, str]
    log: Path
    args: tuple[str, ...] = ()
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    killed_at: float | None = None
    strays: list[int] = field(default_factory=list)

    async def start(self) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        full_env.update(self.env)
        full_env["PYTHONPATH"] = str(REPO)
        with self.log.open("ab") as out:
            out.write(f"\n===== start {' '.join(self.args)} =====\n".encode())
            out.flush()
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--config",
                str(self.config),
                *self.args,
                cwd=self.cwd,
                env=full_env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def kill(self) -> None:
        """SIGKILL the Herald process itself (not its group): a crash, not a shutdown."""
        if self.running and self.killed_at is None:
            assert self.proc is not None
            self.proc.kill()
            self.killed_at = time.monotonic()

    def kill_later(self, delay: float) -> None:
        if delay <= 0:
            self.kill()
        else:
            asyncio.get_running_loop().call_later(delay, self.kill)

    async def wait(self, within: float) -> int | None:
        """The exit code, or None if still running after ``within`` seconds."""
        assert self.proc is not None
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(self.proc.wait(), within)
        return None

    async def reap_strays(self, grace: float = 3.0) -> list[int]:
        """Children that outlived a killed Herald (after ``grace`` s to exit on their own) are
        recorded and killed; returns their pids."""
        assert self.proc is not None
        pgid = self.proc.pid
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _group_alive(pgid):
                return []
            await asyncio.sleep(0.05)
        pids = _group_members(pgid)
        self.strays.extend(pids)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        return pids


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie member still counts for killpg; look for a live one.
    return bool(_group_members(pgid))


def _group_members(pgid: int) -> list[int]:
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces, so split after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def config_text(
    *,
    feeds: Iterable[str],
    api_base_url: str,
    gateway_url: str,
    guild: str,
    subscriptions: Iterable[tuple[str, str]],
    topics: dict[str, str],
    burst: int,
) -> str:
    """The TOML for the crash test's Herald: fast polls, short leases, Discord at the fake."""
    lines = [
        "[storage]",
        'url = "sqlite:///var/herald.db"',
        "[fetch]",
        "allow_private_networks = true",
        "connect_timeout = 2",
        "read_timeout = 5",
        "total_timeout = 5",
        "[schedule]",
        "interval = 1",
        "min_interval = 1",
        "tick = 0.2",
        "jitter = 0",
        "lease = 10",
        "[delivery]",
        "pace_seconds = 0.02",
        f"burst = {burst}",
        "retry_base = 0.5",
        "retry_max = 5",
        "lease = 10",
        "[adapters.console]",
        "enabled = false",
        "[adapters.discord]",
        "enabled = true",
        f'api_base_url = "{api_base_url}"',
        f'gateway_url = "{gateway_url}"',
    ]
    for url in feeds:
        lines += ["[[feeds]]", f'url = "{url}"']
    for name, query in topics.items():
        lines += ["[[topics]]", f'name = "{name}"', f"query = '{query}'"]
    for channel, topic in subscriptions:
        lines += [
            "[[subscriptions]]",
            'platform = "discord"',
            f'workspace = "{guild}"',
            f'channel = "{channel}"',
            f'topic = "{topic}"',
        ]
    return "\n".join(lines) + "\n"
