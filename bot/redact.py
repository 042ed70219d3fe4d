"""Secret redaction at the boundary: every log line, error message and reply leaves through here.

Owns :func:`redact` (one string in, the same string with credentials replaced by ``***``) and the
logging side: :class:`RedactingFilter` for handlers and :func:`install` for the CLI. What counts as
a secret: the values of Herald's secret environment variables (and any registered at run time),
Slack tokens (``xox?-``, ``xapp-``), Discord bot tokens, ``Bot``/``Bearer``/``Basic``
authorization values, Discord and Slack webhook URLs, the password in ``user:password@`` URLs and
credential-looking query parameters. aiohttp and discord.py put full URLs and headers into
exception messages, so redaction happens where text leaves, not where it is made.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote

MASK = "***"

# Environment variables whose values are secrets wherever they appear (see bot.settings).
SECRET_ENV_VARS = (
    "HERALD_DISCORD_TOKEN",
    "HERALD_SLACK_BOT_TOKEN",
    "HERALD_SLACK_APP_TOKEN",
    "HERALD_SLACK_SIGNING_SECRET",
)
# Any other HERALD_* variable whose name says it holds a credential.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|CREDENTIAL", re.I)
# Shorter values would mask ordinary words; real credentials are far longer.
MIN_SECRET_LENGTH = 8

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Slack: bot/user/app-level/refresh/config tokens.
    (re.compile(r"\bxox[abeprs]-[A-Za-z0-9-]{6,}"), MASK),
    (re.compile(r"\bxapp-[A-Za-z0-9-]{6,}"), MASK),
    # Discord webhook and interaction-followup URLs: the last path segment is the credential.
    (
        re.compile(
            r"(?i)(\b(?:https?://)?(?:[a-z]+\.)?discord(?:app)?\.com/api(?:/v\d+)?/webhooks/\d+/)"
            r"[^/?#\s'\"<>]+"
        ),
        r"\1" + MASK,
    ),
    # Slack incoming-webhook and workflow URLs: everything after the kind is credential.
    (
        re.compile(
            r"(?i)(\b(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/)"
            r"[^?#\s'\"<>]+"
        ),
        r"\1" + MASK,
    ),
    # Authorization header values, in prose, in reprs of header dicts and in curl lines.
    (re.compile(r"(?i)\b(Bot|Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1\2" + MASK),
    (
        re.compile(
            r"(?i)(['\"]?(?:authorization|x-slack-signature)['\"]?\s*[:=]\s*['\"]?)"
            r"(?!(?:Bot|Bearer|Basic)\s)[^\s'\",}]{8,}"
        ),
        r"\1" + MASK,
    ),
    # Discord bot tokens: base64(user id) . timestamp . HMAC.
    (re.compile(r"\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}\b"), MASK),
    # user:password@ in any URL (feed URLs, database URLs): keep the user, hide the password.
    (
        # Greedy to the last "@" of the authority: an unencoded "@" inside a password is common.
        re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/?#@:'\"<>]*):[^\s/?#'\"<>]*@"),
        r"\1:" + MASK + "@",
    ),
    # Credential-looking query parameters (signed feed URLs, API keys).
    (
        re.compile(
            r"(?i)([?&;](?:access_token|token|api_?key|apikey|key|secret|password|passwd|sig|"
            r"signature|auth|client_secret|x-amz-signature|x-amz-credential)=)[^&#\s'\"<>]+"
        ),
        r"\1" + MASK,
    ),
)


class Redactor:
    """Replaces secrets in text. Known secret values come from ``env`` (read at each call, so
    values set after start-up are covered) and from :meth:`add`."""

    def __init__(
        self, secrets: Iterable[str] = (), *, env: Mapping[str, str] | None = None
    ) -> None:
        self._env = env
        self._extra: set[str] = set()
        self._lock = threading.Lock()
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        """Treat ``secret`` as a credential from now on (ignored if too short to be one)."""
        if secret and len(secret.strip()) >= MIN_SECRET_LENGTH:
            with self._lock:
                self._extra.add(secret.strip())

    def known(self) -> list[str]:
        env = os.environ if self._env is None else self._env
        values = set(self._extra)
        for name, value in env.items():
            if not value or len(value) < MIN_SECRET_LENGTH:
                continue
            if name in SECRET_ENV_VARS or (
                name.startswith("HERALD_") and _SECRET_NAME.search(name)
            ):
                values.add(value.strip())
        forms: set[str] = set()
        for v in values:
            forms.add(v)
            # As it appears inside a URL or a form body.
            forms.add(quote(v, safe=""))
        # Longest first, so a secret containing another is masked whole.
        return sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for secret in self.known():
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text


_default = Redactor()


def add_secret(secret: str | None) -> None:
    """Register a credential that does not come from a ``HERALD_*`` variable."""
    _default.add(secret)


def redact(text: object) -> str:
    """``str(text)`` with every credential replaced by ``***``. Use it on anything shown to a
    person or written to a log: exception messages, replies, feed errors."""
    return _default(str(text))


class RedactingFilter(logging.Filter):
    """A handler filter that redacts the rendered message, the traceback and the stack.

    It must sit on handlers, not loggers: a logger's filters do not see records propagated from
    child loggers. The record is rewritten in place (``msg`` rendered, ``args`` cleared), so every
    formatter downstream sees only redacted text.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redact = redactor or _default
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the line, nor leak its args
            message = f"{record.msg!s} {record.args!r}"
        record.msg = self._redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


class RedactingFormatter(logging.Formatter):
    """Wraps another formatter and redacts its whole output (belt and braces for handlers whose
    formatter adds text of its own)."""

    def __init__(self, inner: logging.Formatter | None = None, redactor: Redactor | None = None):
        super().__init__()
        self._inner = inner or logging.Formatter()
        self._redact = redactor or _default

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(self._inner.format(record))


def install(logger: logging.Logger | None = None, redactor: Redactor | None = None) -> int:
    """Redact every handler of ``logger`` (default: the root logger); returns how many handlers.

    Call it after the handlers exist (after ``logging.basicConfig``). Idempotent.
    """
    target = logger or logging.getLogger()
    count = 0
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(redactor))
        if not isinstance(handler.formatter, RedactingFormatter):
            handler.setFormatter(RedactingFormatter(handler.formatter, redactor))
        count += 1
    return count
