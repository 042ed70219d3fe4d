"""Herald's exception hierarchy: one root, a few families callers can act on."""

from __future__ import annotations


class HeraldError(Exception):
    """Root of every error Herald raises on purpose."""


class ConfigError(HeraldError):
    """The configuration is invalid; ``problems`` lists every one with its key path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class QueryError(HeraldError):
    """A topic query does not parse; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, query: str, position: int) -> None:
        self.message = message
        self.query = query
        self.position = position
        super().__init__(f"{message} at position {position + 1}")

    def pointer(self) -> str:
        """The query with a caret under the offending position, for error replies."""
        return f"{self.query}\n{' ' * self.position}^"


class FetchError(HeraldError):
    """A feed could not be fetched. ``transient`` says whether retrying later may help."""

    def __init__(self, message: str, *, transient: bool = True, retry_after: float | None = None):
        self.transient = transient
        self.retry_after = retry_after
        super().__init__(message)


class ParseError(HeraldError):
    """A document could not be read as a feed at all (not merely malformed but recoverable)."""


class StorageError(HeraldError):
    """The database is unreachable or its schema is newer than this code."""


class CommandError(HeraldError):
    """A user command was refused; the message is safe to show to the user."""


class DeliveryError(HeraldError):
    """Base for failures reported by an adapter while sending."""


class TransientDeliveryError(DeliveryError):
    """Sending failed but may succeed later; ``retry_after`` is the platform's hint in seconds.

    ``scope="adapter"`` means the whole platform is closed to us for ``retry_after`` seconds
    (e.g. a Cloudflare block in front of Discord): the dispatcher pauses every send instead of
    counting a failed attempt against each message.
    """

    def __init__(
        self, message: str, retry_after: float | None = None, *, scope: str = "message"
    ) -> None:
        self.retry_after = retry_after
        self.scope = scope
        super().__init__(message)


class PermanentDeliveryError(DeliveryError):
    """The channel is gone or refuses us: retrying will not help; pause the subscription."""


class RejectedDeliveryError(DeliveryError):
    """The platform refused this one message as invalid (e.g. HTTP 400): resending the same
    request can only fail again (and Discord bans IPs that send many invalid requests), so the
    delivery is given up at once and admins are told; the channel stays active."""


class AdapterFatalError(DeliveryError):
    """The adapter cannot go on (revoked token, bad credentials); stop it, keep the rest running."""
