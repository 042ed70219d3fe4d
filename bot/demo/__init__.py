"""The offline demo: a simulated newsroom serving fictional feeds, and topics that fit its copy."""

from __future__ import annotations

from bot.demo.newsroom import Newsroom, Publication
from bot.demo.stories import STORIES, Story

__all__ = ["STORIES", "Newsroom", "Publication", "Story", "demo_topics"]


def demo_topics() -> dict[str, str]:
    """Topic name → query for the demo. Only ``OR`` is used so every hit is easy to explain."""
    return {
        "nato": 'nato OR "north atlantic" OR alliance OR allies',
        "eu": '"european union" OR eu OR brussels OR "european council" OR "european commission"',
        "cyber": "cyber* OR ransomware OR hacking OR malware",
        "defence": 'defence OR defense OR military OR "armed forces" OR troops',
        "diplomacy": 'diplom* OR embassy OR ambassador OR "foreign minister" OR talks',
    }
