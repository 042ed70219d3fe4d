"""Herald's platform-neutral core: feeds in, de-duplicated topic alerts out.

Nothing under ``bot`` imports a chat-platform SDK; adapters in ``adapters/``
translate between a platform and the frozen value types in :mod:`bot.types`.
"""

__version__ = "0.1.0"
