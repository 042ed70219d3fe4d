"""Real stand-ins for the outside world that tests drive: a feed server and document builders."""

from tests.fakes.feed_server import FeedServer, RecordedRequest, Response, start_feed_server
from tests.fakes.feeds import Item, atom, json_feed, rss

__all__ = [
    "FeedServer",
    "Item",
    "RecordedRequest",
    "Response",
    "atom",
    "json_feed",
    "rss",
    "start_feed_server",
]
