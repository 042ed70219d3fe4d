"""Configuration: the TOML an admin edits, validated (pydantic), overridable from the environment.

Owns the schema of ``config/*.toml``, the environment overrides (``HERALD_SECTION__KEY``), and the
rule that secrets come from the environment only. Every problem is reported at once, each with
its key path, so an admin fixes a file in one pass.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.errors import ConfigError

SECRET_ENV = {
    "discord_token": "HERALD_DISCORD_TOKEN",
    "slack_bot_token": "HERALD_SLACK_BOT_TOKEN",
    "slack_app_token": "HERALD_SLACK_APP_TOKEN",
    "slack_signing_secret": "HERALD_SLACK_SIGNING_SECRET",
    "llm_api_key": "HERALD_LLM_API_KEY",
}

PLATFORMS = ("console", "slack", "discord")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageSettings(_Section):
    url: str = "sqlite:///var/herald.db"

    @field_validator("url")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        scheme = v.split(":", 1)[0].split("+", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("storage.url must start with sqlite:/// or postgresql://")
        return v


class FetchSettings(_Section):
    allow_private_networks: bool = False
    max_bytes: int = Field(5 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    connect_timeout: float = Field(10.0, gt=0, le=120)
    read_timeout: float = Field(20.0, gt=0, le=300)
    total_timeout: float = Field(60.0, gt=0, le=600)
    max_concurrency: int = Field(16, ge=1, le=1000)
    per_host: int = Field(2, ge=1, le=64)
    max_entries: int = Field(200, ge=1, le=10_000)
    # Parsing runs in worker processes with a memory cap and a deadline, so no document can
    # take the bot down; 0 parses in a thread of this process (tests, tiny setups).
    parse_workers: int = Field(2, ge=0, le=64)
    parse_memory_mb: int = Field(512, ge=64, le=16_384)
    parse_timeout: float = Field(30.0, gt=0, le=600)


class ScheduleSettings(_Section):
    interval: float = Field(300.0, ge=1, description="default seconds between polls of a feed")
    min_interval: float = Field(60.0, ge=1, description="no feed is polled more often")
    jitter: float = Field(0.1, ge=0, le=0.5, description="fraction of the interval")
    tick: float = Field(5.0, gt=0, le=300, description="how often due feeds are looked for")
    max_failures: int = Field(20, ge=1, le=10_000)
    max_backoff: float = Field(6 * 3600.0, ge=60)
    lease: float = Field(300.0, ge=10, description="a claimed feed returns to the pool after this")


class DetectSettings(_Section):
    retention_days: int = Field(120, ge=90, le=3650)
    backfill: int = Field(0, ge=0, le=50)
    same_title_days: float = Field(3.0, ge=0, le=30)


class DeliverySettings(_Section):
    pace_seconds: float = Field(2.0, ge=0, le=3600)
    burst: int = Field(5, ge=1, le=100, description="alerts in a row before the rest is folded")
    max_attempts: int = Field(12, ge=1, le=1000)
    retry_base: float = Field(5.0, gt=0)
    retry_max: float = Field(3600.0, gt=0)
    # Short enough that a delivery interrupted by a crash is re-sent while the platform still
    # remembers its idempotency key (Discord keeps nonces for a few minutes).
    lease: float = Field(90.0, ge=10, description="a claimed delivery is retried after this")


class SummarySettings(_Section):
    method: Literal["extractive", "lead", "llm"] = "extractive"
    max_chars: int = Field(280, ge=40, le=3000)
    max_sentences: int = Field(2, ge=1, le=5)
    # When a feed gives only a teaser, read the linked article (same guarded fetcher).
    fetch_article: bool = True
    teaser_chars: int = Field(400, ge=0, le=10_000)
    article_timeout: float = Field(15.0, gt=0, le=120)
    article_cache_size: int = Field(512, ge=1, le=100_000)
    article_cache_ttl: float = Field(86_400.0, ge=60)
    # method = "llm": any OpenAI-compatible chat-completions endpoint; key in HERALD_LLM_API_KEY.
    llm_base_url: str = "https://api.openai.com/v1"
    llm_model: str = Field("gpt-4o-mini", min_length=1)
    llm_timeout: float = Field(20.0, gt=0, le=300)
    llm_max_requests_per_hour: int = Field(600, ge=1)
    llm_max_tokens_per_hour: int = Field(300_000, ge=1000)
    llm_cache_size: int = Field(2048, ge=1)

    @field_validator("llm_base_url")
    @classmethod
    def _http_base(cls, v: str) -> str:
        if urlsplit(v).scheme not in ("http", "https"):
            raise ValueError("llm_base_url must be an http:// or https:// URL")
        return v


class HealthSettings(_Section):
    enabled: bool | None = Field(
        None, description="serve /healthz, /readyz, /metrics; default: on only in Slack HTTP mode"
    )
    host: str = "127.0.0.1"
    port: int = Field(8090, ge=0, le=65535)


class FeedConfig(_Section):
    url: str
    name: str | None = Field(None, max_length=100)
    interval: float | None = Field(
        None, description="seconds between polls; default schedule.interval"
    )
    backfill: int | None = Field(None, ge=0, le=50)

    @field_validator("url")
    @classmethod
    def _http_only(cls, v: str) -> str:
        v = v.strip()
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("feed url must be an absolute http:// or https:// URL")
        return v


class TopicConfig(_Section):
    name: str
    query: str

    @model_validator(mode="after")
    def _query_parses(self) -> TopicConfig:
        from bot.errors import QueryError
        from bot.topics import parse_query, validate_topic_name

        object.__setattr__(self, "name", validate_topic_name(self.name))
        try:
            parse_query(self.query)
        except QueryError as exc:
            # pydantic reports ValueErrors with the key path; the caret shows where.
            raise ValueError(f"query does not parse: {exc}\n{exc.pointer()}") from None
        return self


class SubscriptionConfig(_Section):
    platform: Literal["console", "slack", "discord"]
    channel: str = Field(min_length=1, max_length=100)
    topic: str
    workspace: str | None = Field(None, max_length=100)


class AdminChannelConfig(_Section):
    platform: Literal["console", "slack", "discord"]
    channel: str = Field(min_length=1, max_length=100)
    workspace: str | None = None


class ConsoleSettings(_Section):
    enabled: bool = True
    format: Literal["rich", "jsonl"] = "rich"
    interactive: Literal["auto", "yes", "no"] = "auto"
    channel: str = Field(
        "desk", min_length=1, max_length=100, description="where typed commands apply"
    )


class SlackSettings(_Section):
    enabled: bool = False
    mode: Literal["socket", "http"] = "socket"
    host: str = "127.0.0.1"
    port: int = Field(3000, ge=0, le=65535, description="HTTP mode: POST /slack/events here")
    api_base_url: str = "https://slack.com/api/"


class DiscordSettings(_Section):
    enabled: bool = False
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    test_guild: str | None = Field(None, description="sync commands to this guild only (dev)")
    # Several instances: one gateway connection per shard; the others deliver over REST only.
    gateway: bool = Field(True, description="connect to the gateway (commands); false = REST only")
    shard_id: int | None = Field(None, ge=0)
    shard_count: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _shards(self) -> DiscordSettings:
        if (self.shard_id is None) != (self.shard_count is None):
            raise ValueError("set both shard_id and shard_count, or neither")
        if self.shard_id is not None and self.shard_id >= (self.shard_count or 0):
            raise ValueError("shard_id must be below shard_count")
        return self


class AdapterSettings(_Section):
    console: ConsoleSettings = ConsoleSettings()
    slack: SlackSettings = SlackSettings()
    discord: DiscordSettings = DiscordSettings()


class Settings(BaseSettings):
    """The effective configuration. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="HERALD_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    admins: tuple[str, ...] = Field(
        (), description="user ids (or platform:user_id) allowed to run admin commands"
    )
    storage: StorageSettings = StorageSettings()
    fetch: FetchSettings = FetchSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    detect: DetectSettings = DetectSettings()
    delivery: DeliverySettings = DeliverySettings()
    summary: SummarySettings = SummarySettings()
    feeds: tuple[FeedConfig, ...] = ()
    topics: tuple[TopicConfig, ...] = ()
    subscriptions: tuple[SubscriptionConfig, ...] = ()
    admin_channels: tuple[AdminChannelConfig, ...] = ()
    adapters: AdapterSettings = AdapterSettings()
    health: HealthSettings = HealthSettings()

    # Secrets: environment only (see load_settings), never printed.
    discord_token: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    llm_api_key: SecretStr | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file: operators override a shipped config per host.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        problems: list[str] = []
        if self.schedule.interval < self.schedule.min_interval:
            problems.append(
                f"schedule.interval: {self.schedule.interval:g} s is below schedule.min_interval "
                f"({self.schedule.min_interval:g} s)"
            )
        seen_urls: set[str] = set()
        for i, feed in enumerate(self.feeds):
            if feed.url in seen_urls:
                problems.append(f"feeds.{i}.url: duplicate feed {feed.url}")
            seen_urls.add(feed.url)
            if feed.interval is not None and feed.interval < self.schedule.min_interval:
                problems.append(
                    f"feeds.{i}.interval: {feed.interval:g} s is below the minimum "
                    f"{self.schedule.min_interval:g} s"
                )
        names: set[str] = set()
        for i, topic in enumerate(self.topics):
            if topic.name in names:
                problems.append(f"topics.{i}.name: duplicate topic {topic.name!r}")
            names.add(topic.name)
        for i, sub in enumerate(self.subscriptions):
            if sub.topic.strip().lower() not in names:
                problems.append(
                    f"subscriptions.{i}.topic: unknown topic {sub.topic!r} "
                    f"(defined: {', '.join(sorted(names)) or 'none'})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def secret(self, name: str) -> str | None:
        value: SecretStr | None = getattr(self, name)
        return value.get_secret_value() if value is not None else None

    def is_admin(self, platform: str, user_id: str) -> bool:
        return user_id in self.admins or f"{platform}:{user_id}" in self.admins

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data with every secret masked."""
        data = self.model_dump(mode="json")
        for key in SECRET_ENV:
            data[key] = "********" if data.get(key) else None
        return data


def _format_loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(root)"


def _collect(err: ValidationError) -> list[str]:
    problems: list[str] = []
    for e in err.errors(include_url=False):
        msg = str(e.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        loc = _format_loc(tuple(e.get("loc", ())))
        if e.get("type") == "extra_forbidden":
            msg = "unknown key (check the spelling; see config/herald.toml for every key)"
        for part in msg.split("; ") if loc == "(root)" else [msg]:
            problems.append(part if loc == "(root)" and ": " in part else f"{loc}: {part}")
    return problems


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read the TOML file, overlay the environment, validate; ConfigError lists every problem.

    Environment variables ``HERALD_<SECTION>__<KEY>`` override the file (JSON values allowed, e.g.
    ``HERALD_FETCH__MAX_BYTES=1048576``); secrets are only ever read from their variables.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([f"{p}: no such file"]) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{p}: not valid TOML: {exc}"]) from None
    problems = [
        f"{key}: secrets are read from the environment only; remove it from the file and set {var}"
        for key, var in SECRET_ENV.items()
        if data.pop(key, None) is not None
    ]
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(problems + _collect(exc)) from None
    if problems:
        raise ConfigError(problems)
    return settings
