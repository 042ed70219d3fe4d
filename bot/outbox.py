"""The outbox: turns matched stories into durable delivery rows, and rows back into Alerts.

One row per (platform, workspace, channel, story), enforced by a unique constraint, so a story
that matches several topics a channel follows -- or arrives again through another feed -- is
queued once and names every matching topic. Rows carry a self-contained payload, so delivery
never depends on entries that retention may have pruned.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bot.detect import sha
from bot.storage import DeliveryRow, SubscriptionRow
from bot.types import Alert, AlertItem, AlertKind


def item_to_payload(item: AlertItem) -> dict[str, Any]:
    return {
        "story_key": item.story_key,
        "feed": item.feed,
        "title": item.title,
        "link": item.link,
        "summary": item.summary,
        "published": item.published.isoformat() if item.published else None,
        "image": item.image,
        "categories": list(item.categories),
    }


def payload_to_item(p: dict[str, Any]) -> AlertItem:
    published = p.get("published")
    return AlertItem(
        story_key=str(p["story_key"]),
        feed=str(p.get("feed") or ""),
        title=str(p.get("title") or ""),
        link=p.get("link"),
        summary=str(p.get("summary") or ""),
        published=datetime.fromisoformat(published) if published else None,
        image=p.get("image"),
        categories=tuple(p.get("categories") or ()),
    )


def route(
    item: AlertItem,
    matched_topics: Iterable[str],
    subscriptions: Sequence[SubscriptionRow],
    *,
    now: datetime,
    platforms: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Delivery rows for one story: one per channel, naming the channel's matching topics."""
    topics = set(matched_topics)
    allowed = None if platforms is None else set(platforms)
    per_channel: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for sub in subscriptions:
        if (
            sub.topic in topics
            and sub.state == "active"
            and (allowed is None or sub.platform in allowed)
        ):
            per_channel[(sub.platform, sub.workspace, sub.channel)].add(sub.topic)
    payload = json.dumps([item_to_payload(item)])
    return [
        {
            "platform": platform,
            "workspace": workspace,
            "channel": channel,
            "story_key": item.story_key,
            "kind": AlertKind.STORY.value,
            "topics": json.dumps(sorted(names)),
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for (platform, workspace, channel), names in sorted(per_channel.items())
    ]


def to_alert(row: DeliveryRow) -> Alert:
    return Alert(
        delivery_id=row.id,
        platform=row.platform,
        workspace=row.workspace or None,
        channel=row.channel,
        topics=row.topics,
        items=tuple(payload_to_item(p) for p in row.payload),
        kind=AlertKind(row.kind),
        attempt=row.sends,
        first_attempt_at=row.first_send_at,
    )


def digest_row(
    members: Sequence[DeliveryRow], now: datetime, *, next_attempt_at: datetime | None = None
) -> dict[str, Any]:
    """One delivery that folds ``members`` ("N more stories on <topic>")."""
    first = members[0]
    counts: Counter[str] = Counter(t for m in members for t in m.topics)
    topics = [name for name, _ in counts.most_common()]
    items = [p for m in members for p in m.payload]
    return {
        "platform": first.platform,
        "workspace": first.workspace,
        "channel": first.channel,
        # Stable for the same members, so a crash between fold and send cannot fold twice.
        "story_key": sha("digest:" + ",".join(str(m.id) for m in members)),
        "kind": AlertKind.DIGEST.value,
        "topics": json.dumps(topics),
        "payload": json.dumps(items),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": next_attempt_at or now,
        "created_at": now,
    }


def digest_headline(alert: Alert) -> str:
    """``N more stories on nato`` / ``... on nato and eu``: the same words on every platform."""
    n = len(alert.items)
    names = list(alert.topics)
    where = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{n} more {'story' if n == 1 else 'stories'} on {where}" if names else f"{n} more"
