"""Slack adapter: ``/news`` slash commands in, Block Kit alerts and admin notices out.

Owns everything Slack-specific: the bolt ``AsyncApp`` and its one ``AsyncWebClient`` (every Web
API call, bolt's own included, goes to ``adapters.slack.api_base_url``), both transports (Socket
Mode, or signed HTTP requests at ``POST /slack/events``), the run-time admin check (Slack has no
per-command permissions), rendering alerts as Block Kit with every piece of feed text escaped
(feed text is attacker-controlled; ``&``, ``<``, ``>`` are the only mrkdwn control characters),
Block Kit limits, and mapping Slack errors onto ``bot.errors``' delivery failures.

Slack has no idempotency key, so every alert carries message metadata naming its delivery, and a
send that may repeat an earlier one which could have reached Slack (this process lost the answer,
or the core says an earlier process started a send) first looks the message up with
``conversations.history`` and returns the existing ``ts`` instead of posting twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapter import AdapterContext, CommandHandler
from bot.clock import Clock
from bot.commands import ADMIN_COMMANDS, PREFIXES
from bot.errors import (
    AdapterFatalError,
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    RejectedDeliveryError,
    TransientDeliveryError,
)
from bot.outbox import digest_headline
from bot.settings import SlackSettings
from bot.types import Alert, AlertItem, AlertKind, Caller, Notice

log = logging.getLogger("herald.slack")

PLATFORM = "slack"
COMMAND = "/news"
EVENTS_PATH = "/slack/events"

# Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks): section text 3000, context
# element text 3000, 50 blocks per message. Fallback ``text`` may be 40k but Slack advises 4k.
SECTION_MAX = 3000
MAX_BLOCKS = 50
FALLBACK_MAX = 3000
REPLY_MAX = 12000
IMAGE_URL_MAX = 3000
LINK_URL_MAX = 1500  # beyond this a link would crowd the title out of its section
DIGEST_TITLE_MAX = 200
ELLIPSIS = "…"

# Errors meaning "this channel will never take our messages": the core pauses the channel.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "channel_is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "team_access_not_granted",
        "no_permission",
        "ekm_access_denied",
    }
)
# Errors meaning "these credentials are dead everywhere": the core stops this adapter.
# ``missing_scope`` is here too: without chat:write no channel can work until the app is fixed.
FATAL_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
        "not_allowed_token_type",
        "org_login_required",
    }
)
# Slack refuses the whole message when one block is bad (an image it cannot fetch, usually).
INVALID_BLOCK_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format"})
# "This message is malformed": sending it again can only fail again, so the core gives it up.
REJECTED_ERRORS = INVALID_BLOCK_ERRORS | {
    "msg_too_long",
    "no_text",
    "too_many_attachments",
    "invalid_arguments",
    "invalid_arg_name",
    "invalid_array_arg",
    "invalid_charset",
    "invalid_form_data",
    "invalid_json",
    "json_not_object",
    "invalid_post_type",
    "missing_post_type",
}

# Message metadata marking a Herald alert; the payload names the delivery (and its story, so two
# Herald databases posting to one channel cannot mistake each other's delivery ids).
ALERT_EVENT = "herald_alert"
# conversations.history is Tier 3 (~50/min; 1/min with 15 per page for non-Marketplace apps that
# are distributed commercially): few, full pages. Past the last page the send goes ahead.
LOOKUP_PAGE = 200
LOOKUP_PAGES = 5
# Slack stamps ``ts`` with its clock and we bound the search with ours.
CLOCK_SKEW = timedelta(minutes=2)
# The lookup cannot run (bot not in the channel: chat:write.public posts without joining; an old
# install without the history scopes). Sending anyway risks a duplicate, which beats losing the
# alert.
LOOKUP_IMPOSSIBLE = frozenset({"not_in_channel", "missing_scope", "channel_not_found"})
MEMORY_MAX = 10_000

_TOKEN_RE = re.compile(r"x(?:ox[a-z]|app)-[A-Za-z0-9-]+")
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")


# -- text ------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape Slack's three control characters so text renders literally and pings nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Undo Slack's escaping of typed command text (Slack sends ``&lt;`` for a typed ``<``)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def fit(text: str, limit: int) -> str:
    """``escape(text)`` cut to ``limit`` characters with an ellipsis, never inside an entity."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    budget = limit - len(ELLIPSIS)
    used = 0
    cut = 0
    for i, ch in enumerate(text):
        size = len(escape(ch))
        if used + size > budget:
            break
        used += size
        cut = i + 1
    return escape(text[:cut].rstrip()) + ELLIPSIS


def safe_url(url: str | None, limit: int = LINK_URL_MAX) -> str | None:
    """The URL ready to sit inside ``<url|label>``, or None if it is not a plain http(s) URL."""
    if not url or len(url) > limit:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    # ``|`` and ``>`` would end the link early; spaces and control characters break it.
    cleaned = "".join(
        f"%{ord(ch):02X}" if ch in '|<> "' or ord(ch) < 0x20 or ord(ch) == 0x7F else ch
        for ch in url.strip()
    )
    return cleaned.replace("&", "&amp;")


def link(url: str | None, label_text: str, limit: int) -> str:
    """``<url|escaped label>`` for an http(s) URL, else the escaped label; at most ``limit``."""
    target = safe_url(url)
    if target is None:
        return fit(label_text, limit)
    room = limit - len(target) - 3
    return f"<{target}|{fit(label_text, room)}>"


def _date_token(when: datetime) -> str:
    # Slack renders <!date> in each reader's own time zone; the fallback is for old clients.
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: no auto-linking of bare URLs, channel names or @mentions in feed text.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _context(alert: Alert, item: AlertItem | None) -> dict[str, Any]:
    parts: list[str] = []
    if item is not None:
        if item.feed:
            parts.append(fit(item.feed, 200))
        if item.published is not None:
            parts.append(_date_token(item.published))
    if alert.topics:
        parts.append(fit(", ".join(alert.topics), 500))
    # Each part is capped above, so the line stays far below Slack's 3000 characters.
    return {"type": "context", "elements": [_mrkdwn(" · ".join(parts) or "Herald")]}


def story_blocks(alert: Alert, *, images: bool = True) -> list[dict[str, Any]]:
    """Block Kit for one story: linked bold title (+ image), summary, context line."""
    item = alert.item
    title = item.title or "(untitled)"
    head: dict[str, Any] = {
        "type": "section",
        "text": _mrkdwn(f"*{link(item.link, title, SECTION_MAX - 2)}*"),
    }
    image = safe_url(item.image, IMAGE_URL_MAX) if images else None
    if image is not None:
        # The title sits right beside the image, so a fixed alt text loses nothing.
        head["accessory"] = {
            "type": "image",
            "image_url": image.replace("&amp;", "&"),
            "alt_text": "story image",
        }
    blocks: list[dict[str, Any]] = [head]
    if item.summary:
        blocks.append({"type": "section", "text": _mrkdwn(fit(item.summary, SECTION_MAX))})
    blocks.append(_context(alert, item))
    return blocks


def digest_blocks(alert: Alert) -> list[dict[str, Any]]:
    """Block Kit for a digest: the shared headline, then the stories as a list of links."""
    headline = f"*{fit(digest_headline(alert), SECTION_MAX - 2)}*"
    max_sections = MAX_BLOCKS - 2  # the headline and the context line take the other two
    sections: list[list[str]] = [[]]
    shown = 0
    for item in alert.items:
        line = "• " + link(item.link, item.title or "(untitled)", DIGEST_TITLE_MAX + LINK_URL_MAX)
        if _joined_len(sections[-1], line) > SECTION_MAX:
            if len(sections) == max_sections:
                break
            sections.append([])
        sections[-1].append(line)
        shown += 1
    rest = len(alert.items) - shown
    if rest:
        last = sections[-1]
        while last and _joined_len(last, f"{ELLIPSIS} and {rest} more") > SECTION_MAX:
            last.pop()
            rest += 1
        last.append(f"{ELLIPSIS} and {rest} more")
    single_feed = len({i.feed for i in alert.items}) == 1
    return [
        {"type": "section", "text": _mrkdwn(headline)},
        *({"type": "section", "text": _mrkdwn("\n".join(lines))} for lines in sections if lines),
        _context(alert, alert.items[0] if single_feed else None),
    ]


def _joined_len(lines: list[str], extra: str) -> int:
    return sum(len(x) + 1 for x in lines) + len(extra)


def fallback_text(alert: Alert) -> str:
    """The plain ``text`` Slack shows in notifications and on clients without blocks."""
    if alert.kind is AlertKind.DIGEST:
        titles = "; ".join(i.title for i in alert.items[:5])
        return fit(f"{digest_headline(alert)}: {titles}", FALLBACK_MAX)
    item = alert.item
    title = item.title or "(untitled)"
    return fit(f"{title} — {item.feed}" if item.feed else title, FALLBACK_MAX)


def render(alert: Alert, *, images: bool = True) -> tuple[str, list[dict[str, Any]]]:
    blocks = (
        digest_blocks(alert)
        if alert.kind is AlertKind.DIGEST
        else story_blocks(alert, images=images)
    )
    return fallback_text(alert), blocks


def needs_admin(text: str) -> bool:
    """Whether ``text`` is one of the core's admin commands (so users.info is worth a call)."""
    words = text.split()
    if words and words[0].lower() in PREFIXES:
        words = words[1:]
    if len(words) < 2:
        return False
    return f"{words[0].lower()} {words[1].lower()}" in ADMIN_COMMANDS


def scrub(text: str) -> str:
    """Remove anything token-shaped: error text must never carry a credential."""
    return _TOKEN_RE.sub("[token]", text)


# -- errors ----------------------------------------------------------------------------------


def _retry_after(headers: dict[str, list[str]] | Any) -> float | None:
    for key, value in dict(headers).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None
    return None


def map_error(exc: BaseException, what: str) -> DeliveryError:
    """Turn an SDK/transport failure into the core's delivery error (token-free message)."""
    if isinstance(exc, SlackApiError):
        status = int(getattr(exc.response, "status_code", 0) or 0)
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        code = str(data.get("error") or f"http_{status}")
        message = scrub(f"Slack {what} failed: {code}")
        if code in FATAL_ERRORS:
            return AdapterFatalError(message)
        if code in PERMANENT_ERRORS:
            return PermanentDeliveryError(message)
        if code in REJECTED_ERRORS:
            return RejectedDeliveryError(message)
        retry_after = _retry_after(exc.response.headers) if status == 429 else None
        return TransientDeliveryError(message, retry_after=retry_after)
    if isinstance(exc, TimeoutError):
        return TransientDeliveryError(f"Slack {what} timed out")
    return TransientDeliveryError(scrub(f"Slack {what} failed: {type(exc).__name__}: {exc}"))


_NETWORK_ERRORS = (SlackApiError, aiohttp.ClientError, TimeoutError, OSError)


class ClockedRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, waiting on the injected clock with seeded jitter.

    A short ``Retry-After`` is waited out in place (one retry); a long one is handed back to the
    core as ``TransientDeliveryError(retry_after=...)`` so one slow channel does not hold the
    dispatcher.
    """

    def __init__(self, clock: Clock, rng: random.Random, *, max_wait: float = 10.0) -> None:
        super().__init__(max_retry_count=1)
        self.clock = clock
        self.rng = rng
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response.headers)
        return wait is None or wait <= self.max_wait

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        wait = _retry_after(response.headers) if response is not None else None
        await self.clock.sleep((1.0 if wait is None else wait) + self.rng.random())
        state.increment_current_attempt()


class ClockedConnectionRetry(AsyncConnectionErrorRetryHandler):
    """slack_sdk's retry-once on a dropped connection, pausing on the injected clock.

    A ``chat.postMessage`` is retried in place only if the connection never opened: after a
    dropped connection Slack may already have posted it, and the adapter's lookup decides.
    """

    def __init__(self, clock: Clock, rng: random.Random) -> None:
        super().__init__(max_retry_count=1)
        self.clock = clock
        self.rng = rng

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.endswith("/chat.postMessage") and not isinstance(
            error, aiohttp.ClientConnectorError
        ):
            return False
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        await self.clock.sleep(0.5 + self.rng.random() / 2)
        state.increment_current_attempt()


def maybe_posted(exc: BaseException) -> bool:
    """Whether a failed ``chat.postMessage`` may still have created the message."""
    if isinstance(exc, SlackApiError):
        # Slack answered: an ``ok: false`` or a 429 posted nothing; a 5xx may have.
        return int(getattr(exc.response, "status_code", 0) or 0) >= 500
    # A connection that never opened carried nothing; a lost answer may hide a post.
    return not isinstance(exc, aiohttp.ClientConnectorError)


def alert_metadata(alert: Alert) -> dict[str, Any]:
    return {
        "event_type": ALERT_EVENT,
        "event_payload": {"delivery_id": alert.delivery_id, "story_key": alert.item.story_key},
    }


def _is_alert_message(message: Any, metadata: dict[str, Any]) -> bool:
    if not isinstance(message, dict):
        return False
    found = message.get("metadata")
    if not isinstance(found, dict) or found.get("event_type") != metadata["event_type"]:
        return False
    payload = found.get("event_payload")
    want = metadata["event_payload"]
    return isinstance(payload, dict) and all(str(payload.get(k)) == str(v) for k, v in want.items())


@dataclass(frozen=True, slots=True)
class _Attempted:
    """What this process knows about a delivery it tried and did not complete.

    ``tries`` is the core's count of started sends including ours (to notice another process's
    send since); ``since`` is the earliest start of our sends that may have posted and no lookup
    has ruled out (None: none can have).
    """

    tries: int | None
    since: datetime | None


# -- the adapter -----------------------------------------------------------------------------


class SlackAdapter:
    """One Slack workspace (bot token) over Socket Mode or HTTP."""

    platform = PLATFORM
    # Slack has no idempotency key: the core records each send first (see bot.adapter).
    needs_send_intent = True

    def __init__(
        self,
        config: SlackSettings,
        *,
        bot_token: str,
        app_token: str | None = None,
        signing_secret: str | None = None,
        clock: Clock,
        rng: random.Random,
        is_config_admin: Callable[[str], bool] = lambda user_id: False,
        connect_timeout: float = 30.0,
    ) -> None:
        self.config = config
        self.mode = config.mode
        self.clock = clock
        self._app_token = app_token
        self._signing_secret = signing_secret
        self._is_config_admin = is_config_admin
        self._connect_timeout = connect_timeout
        self.client = AsyncWebClient(
            token=bot_token,
            base_url=config.api_base_url,
            logger=logging.getLogger("herald.slack.sdk"),
        )
        # Replaces the SDK's defaults (connection retry only, sleeping on the wall clock).
        self.client.retry_handlers = [
            ClockedConnectionRetry(clock, rng),
            ClockedRateLimitRetry(clock, rng),
        ]
        self.app: AsyncApp | None = None
        self.bot_user_id: str | None = None
        self.port: int | None = None  # HTTP mode: the port actually bound (config may say 0)
        self.fatal: str | None = None
        self._commands: CommandHandler | None = None
        self._started = False
        self._socket: AsyncSocketModeHandler | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._attempted: OrderedDict[int, _Attempted] = OrderedDict()
        self._lookup_warned: set[tuple[str, str]] = set()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, commands: CommandHandler) -> None:
        """Sign in, then listen. Dead credentials raise ``AdapterFatalError`` (the core leaves
        this adapter out and keeps running); an unreachable Slack only logs a warning."""
        if self._started or self.fatal is not None:
            return
        self._started = True
        self._commands = commands
        try:
            auth = await self.client.auth_test()
            self.bot_user_id = auth.get("user_id")
            log.info("slack: signed in as %s in %s", auth.get("user"), auth.get("team"))
        except _NETWORK_ERRORS as exc:
            err = map_error(exc, "auth.test")
            if isinstance(err, AdapterFatalError):
                await self._die(f"{err}: set a valid HERALD_SLACK_BOT_TOKEN and restart")
                raise AdapterFatalError(self.fatal or str(err)) from None
            # Slack unreachable at boot: carry on; bolt and the dispatcher retry later.
            log.warning("slack: %s; starting anyway", err)
        self.app = self._build_app()
        if self.mode == "socket":
            await self._start_socket(self.app)
        else:
            await self._start_http(self.app)

    async def stop(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.close_async()  # type: ignore[no-untyped-call]
        connecting, self._connecting = self._connecting, None
        if connecting is not None:
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._started = False

    async def _die(self, reason: str) -> None:
        """Credentials are dead: log once, stop listening, refuse every later send."""
        if self.fatal is None:
            self.fatal = scrub(reason)
            log.error("slack adapter stopped: %s", self.fatal)
        await self.stop()

    def _build_app(self) -> AsyncApp:
        app = AsyncApp(
            client=self.client,
            signing_secret=self._signing_secret or "",
            request_verification_enabled=self.mode == "http",
            logger=logging.getLogger("herald.slack.bolt"),
            name="herald",
        )
        app.command(COMMAND)(self._on_news)
        return app

    async def _start_socket(self, app: AsyncApp) -> None:
        assert self._app_token is not None
        try:
            opened = await self.client.apps_connections_open(app_token=self._app_token)
            url: str | None = opened.get("url")
        except _NETWORK_ERRORS as exc:
            err = map_error(exc, "apps.connections.open")
            if isinstance(err, AdapterFatalError):
                await self._die(f"{err}: set a valid HERALD_SLACK_APP_TOKEN and restart")
                raise AdapterFatalError(self.fatal or str(err)) from None
            log.warning("slack: %s; Socket Mode keeps retrying", err)
            url = None
        handler = AsyncSocketModeHandler(
            app,
            app_token=self._app_token,
            web_client=self.client,
            logger=logging.getLogger("herald.slack.socket"),
        )
        # Reuse the URL just issued: the handler would otherwise ask for a second one.
        handler.client.wss_uri = url
        self._socket = handler
        self._connecting = asyncio.create_task(
            handler.connect_async(),  # type: ignore[no-untyped-call]
            name="slack-socket",
        )
        done, _ = await asyncio.wait({self._connecting}, timeout=self._connect_timeout)
        if done:
            self._connecting = None
            log.info("slack: Socket Mode connected")
        else:
            # Alerts need only the Web API, so the adapter is usable while this keeps trying.
            log.warning("slack: Socket Mode not connected yet; still trying")

    async def _start_http(self, app: AsyncApp) -> None:
        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, self._on_http)
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        await web.TCPSite(runner, self.config.host, self.config.port).start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info("slack: listening on http://%s:%d%s", self.config.host, self.port, EVENTS_PATH)

    async def _on_http(self, request: web.Request) -> web.StreamResponse:
        # bolt's verifier crashes (500) on a non-numeric timestamp; Slack's rule is 401.
        stamp = request.headers.get("X-Slack-Request-Timestamp", "")
        if self.app is None or not _TIMESTAMP_RE.fullmatch(stamp):
            return web.json_response({"error": "invalid request"}, status=401)
        # bolt checks the signature and the 5-minute window against the wall clock on purpose:
        # Slack signs with real time, whatever clock the rest of Herald runs on.
        bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    # -- commands ------------------------------------------------------------------------

    async def _on_news(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        # Ack first and empty: Slack's 3 s window holds however long the command takes.
        await ack()
        assert self._commands is not None
        text = unescape(str(command.get("text") or ""))
        user_id = str(command.get("user_id") or "")
        is_admin = False
        if needs_admin(text) and not self._is_config_admin(user_id):
            is_admin = await self.workspace_admin(user_id)
        caller = Caller(
            PLATFORM,
            user_id,
            str(command.get("channel_id") or ""),
            workspace=str(command.get("team_id") or "") or None,
            is_platform_admin=is_admin,
            display_name=command.get("user_name"),
        )
        reply = await self._commands.handle(caller, text)
        try:
            await respond(text=fit(reply.text, REPLY_MAX), response_type="ephemeral")
        except _NETWORK_ERRORS as exc:
            # Not the exception text: it may quote the response_url, a capability URL.
            log.warning("slack: could not answer /news via response_url (%s)", type(exc).__name__)

    async def workspace_admin(self, user_id: str) -> bool:
        """Whether Slack says ``user_id`` administers or owns the workspace."""
        try:
            info = await self.client.users_info(user=user_id)
        except _NETWORK_ERRORS as exc:
            log.warning(
                "slack: %s; treating %s as a non-admin", map_error(exc, "users.info"), user_id
            )
            return False
        user = info.get("user") or {}
        return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))

    # -- sending -------------------------------------------------------------------------

    async def send_alert(self, alert: Alert) -> str | None:
        if self.fatal is not None:
            raise AdapterFatalError(self.fatal)
        metadata = alert_metadata(alert)
        core_tries: int | None = alert.attempt
        since = self._lookup_since(alert, core_tries)
        if since is not None:
            try:
                found = await self._find_posted(alert, metadata, since)
            except DeliveryError:
                # Nothing was ruled out: the next try looks again from the same point.
                self._remember(alert.delivery_id, core_tries, since)
                raise
            if found is not None:
                self._attempted.pop(alert.delivery_id, None)
                log.info("slack: delivery %s was already posted as %s", alert.delivery_id, found)
                return found
        started = self.clock.now()
        try:
            ts = await self._post_alert(alert, metadata)
        except _SendFailed as failed:
            self._remember(alert.delivery_id, core_tries, started if failed.maybe_posted else None)
            raise failed.error from None
        self._attempted.pop(alert.delivery_id, None)
        return ts

    def _lookup_since(self, alert: Alert, core_tries: int | None) -> datetime | None:
        """From when an earlier send of ``alert`` may have posted it; None: no lookup needed.

        The core's ``attempt`` counts sends started before this one (recorded before each send,
        so it survives a crash) and ``first_attempt_at`` says when the first began. This
        process's own memory is sharper -- it knows which of its failures posted nothing -- and
        is used while no other process has tried since.
        """
        mine = self._attempted.get(alert.delivery_id)
        # attempt 0 with a memory of our own: the core kept no record (or another database
        # does); what this process saw is still true.
        if mine is not None and (not core_tries or mine.tries == core_tries):
            return mine.since
        if not core_tries:
            return None
        first = alert.first_attempt_at
        # Unknown start: Slack keeps the search cheap only with a bound, and a claim is never
        # older than the retry ceiling; a day covers any backoff the core schedules.
        return first if first is not None else self.clock.now() - timedelta(days=1)

    def _remember(self, delivery_id: int, core_tries: int | None, since: datetime | None) -> None:
        tries = None if core_tries is None else core_tries + 1
        self._attempted[delivery_id] = _Attempted(tries, since)
        self._attempted.move_to_end(delivery_id)
        while len(self._attempted) > MEMORY_MAX:
            # Forgetting is safe when the core counts tries: the next send looks up.
            self._attempted.popitem(last=False)

    async def _find_posted(
        self, alert: Alert, metadata: dict[str, Any], since: datetime
    ) -> str | None:
        """The ``ts`` of the message an earlier send of ``alert`` posted, if there is one."""
        oldest = f"{(since - CLOCK_SKEW).timestamp():.6f}"
        cursor: str | None = None
        for _ in range(LOOKUP_PAGES):
            try:
                page = await self.client.conversations_history(
                    channel=alert.channel,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=LOOKUP_PAGE,
                    cursor=cursor,
                )
            except SlackApiError as exc:
                code = _error_code(exc) or ""
                if code in LOOKUP_IMPOSSIBLE:
                    self._warn_lookup(alert.channel, code)
                    return None
                raise await self._failure(exc, "conversations.history") from None
            except _NETWORK_ERRORS as exc:
                raise map_error(exc, "conversations.history") from None
            for message in page.get("messages") or []:
                if _is_alert_message(message, metadata):
                    return str(message.get("ts"))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or not cursor:
                return None
        log.warning(
            "slack: delivery %s not found in the last %d messages of %s; sending it again",
            alert.delivery_id,
            LOOKUP_PAGE * LOOKUP_PAGES,
            alert.channel,
        )
        return None

    def _warn_lookup(self, channel: str, code: str) -> None:
        if (channel, code) not in self._lookup_warned:
            self._lookup_warned.add((channel, code))
            log.warning(
                "slack: cannot check %s for an earlier copy (%s: invite the bot and grant "
                "channels:history/groups:history); a retried alert there may appear twice",
                channel,
                code,
            )

    async def _post_alert(self, alert: Alert, metadata: dict[str, Any]) -> str | None:
        text, blocks = render(alert)
        # Slack refuses a whole message for one bad block, usually an image it could not fetch:
        # then try without images, then as plain text, rather than lose the story.
        candidates: list[list[dict[str, Any]] | None] = [blocks]
        without_images = render(alert, images=False)[1]
        if without_images != blocks:
            candidates.append(without_images)
        candidates.append(None)
        for i, candidate in enumerate(candidates):
            try:
                return await self._call_post(alert.channel, text, candidate, metadata)
            except SlackApiError as exc:
                if i == len(candidates) - 1 or _error_code(exc) not in INVALID_BLOCK_ERRORS:
                    error = await self._failure(exc, "chat.postMessage")
                    raise _SendFailed(error, maybe_posted(exc)) from None
                log.warning(
                    "slack: %s for delivery %s; retrying simpler",
                    _error_code(exc),
                    alert.delivery_id,
                )
            except _NETWORK_ERRORS as exc:
                raise _SendFailed(map_error(exc, "chat.postMessage"), maybe_posted(exc)) from None
        raise AssertionError("unreachable: the last candidate returns or raises")

    async def send_notice(self, notice: Notice) -> str | None:
        try:
            return await self._post(notice.channel, fit(notice.text, FALLBACK_MAX), None, "notice")
        except SlackApiError as exc:
            raise await self._failure(exc, "chat.postMessage (admin notice)") from None

    async def _post(
        self, channel: str, text: str, blocks: Sequence[dict[str, Any]] | None, what: str
    ) -> str | None:
        if self.fatal is not None:
            raise AdapterFatalError(self.fatal)
        try:
            return await self._call_post(channel, text, blocks, None)
        except SlackApiError:
            raise
        except _NETWORK_ERRORS as exc:
            raise map_error(exc, what) from None

    async def _call_post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None,
        metadata: dict[str, Any] | None,
    ) -> str | None:
        # No link_names, no parse: Slack's default (parse=none) leaves escaped text inert.
        response = await self.client.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata=metadata,
        )
        ts = response.get("ts")
        return str(ts) if ts is not None else None

    async def _failure(self, exc: SlackApiError, what: str) -> DeliveryError:
        err = map_error(exc, what)
        if isinstance(err, AdapterFatalError):
            await self._die(f"{err}: check HERALD_SLACK_BOT_TOKEN and the app's scopes")
            return AdapterFatalError(self.fatal or str(err))
        return err


class _SendFailed(Exception):
    """A post failed with ``error``; ``maybe_posted`` says whether Slack may have posted it."""

    def __init__(self, error: DeliveryError, maybe_posted: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.maybe_posted = maybe_posted


def _error_code(exc: SlackApiError) -> str | None:
    data = exc.response.data
    return str(data.get("error")) if isinstance(data, dict) and data.get("error") else None


def create(ctx: AdapterContext) -> SlackAdapter:
    """Build the adapter from settings; missing secrets are configuration errors."""
    settings = ctx.settings
    config = settings.adapters.slack
    bot_token = settings.secret("slack_bot_token")
    app_token = settings.secret("slack_app_token")
    signing_secret = settings.secret("slack_signing_secret")
    problems: list[str] = []
    if not bot_token:
        problems.append("adapters.slack: set HERALD_SLACK_BOT_TOKEN (the xoxb- bot token)")
    if config.mode == "socket" and not app_token:
        problems.append(
            "adapters.slack: Socket Mode needs HERALD_SLACK_APP_TOKEN (an xapp- app-level token "
            'with connections:write), or set mode = "http"'
        )
    if config.mode == "http" and not signing_secret:
        problems.append("adapters.slack: HTTP mode needs HERALD_SLACK_SIGNING_SECRET")
    if problems:
        raise ConfigError(problems)
    assert bot_token is not None
    return SlackAdapter(
        config,
        bot_token=bot_token,
        app_token=app_token,
        signing_secret=signing_secret,
        clock=ctx.clock,
        rng=ctx.rng,
        is_config_admin=lambda user_id: settings.is_admin(PLATFORM, user_id),
    )
