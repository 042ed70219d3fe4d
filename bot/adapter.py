"""The seam between the core and a chat platform: the ``Adapter`` protocol and its registry.

An adapter is a converter pair plus a lifecycle: platform request → ``bot.types.Command`` for the
command service, ``Alert``/``Notice``/``Reply`` → a platform message. The core finds adapters by
name through :data:`REGISTRY` (import strings, loaded lazily), so ``bot`` never imports a
platform SDK and imports only ever flow adapters → bot.
"""

from __future__ import annotations

import importlib
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TextIO, cast

from bot.clock import Clock
from bot.errors import ConfigError
from bot.settings import Settings
from bot.types import Alert, Caller, Notice, Reply


class CommandHandler(Protocol):
    """What adapters call with a user's ``/news`` text; never raises for bad input."""

    async def handle(self, caller: Caller, text: str) -> Reply: ...

    async def topic_names(self) -> list[str]:
        """Every topic a channel can follow (for autocomplete)."""
        ...

    async def channel_topics(self, caller: Caller) -> list[str]:
        """The topics the caller's channel follows (for autocomplete)."""
        ...


class Adapter(Protocol):
    """A chat platform.

    ``start`` returns once the adapter can send (connected, or listening); ``stop`` is
    idempotent. ``send_alert``/``send_notice`` return the platform's message id (or None when
    the platform has none) and raise only ``bot.errors`` delivery errors:
    ``TransientDeliveryError`` (retry later, maybe after ``retry_after``),
    ``PermanentDeliveryError`` (this channel will never work: pause it),
    ``AdapterFatalError`` (credentials revoked: stop this adapter).
    Adapters escape all feed text for their platform; the core hands them plain text.

    An adapter whose platform has no idempotency key (Slack) sets ``needs_send_intent = True``:
    the core then records every send before calling it, and ``Alert.attempt`` > 0 tells the
    adapter that an earlier send may have posted the message (look it up before posting).
    """

    platform: str

    async def start(self, commands: CommandHandler) -> None: ...

    async def stop(self) -> None: ...

    async def send_alert(self, alert: Alert) -> str | None: ...

    async def send_notice(self, notice: Notice) -> str | None: ...


@dataclass(frozen=True)
class AdapterContext:
    """Shared resources handed to adapter factories."""

    settings: Settings
    clock: Clock
    rng: random.Random
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stdin: TextIO | None = None


AdapterFactory = Callable[[AdapterContext], Adapter]

REGISTRY: dict[str, str] = {
    "console": "adapters.console_adapter:create",
    "slack": "adapters.slack_adapter:create",
    "discord": "adapters.discord_adapter:create",
}


def load_adapter(name: str, ctx: AdapterContext) -> Adapter:
    """Import and build the adapter registered as ``name``."""
    target = REGISTRY.get(name)
    if target is None:
        raise ConfigError([f"adapters.{name}: unknown adapter (known: {', '.join(REGISTRY)})"])
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError([f"adapters.{name}: not available in this build ({exc.name})"]) from None
    factory = cast(AdapterFactory, getattr(module, attr))
    return factory(ctx)
