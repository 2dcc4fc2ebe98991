"""Configuration: the environment-variable contract of design §3, in one typed settings class.

A missing or malformed value stops start-up with one line naming the variable (`ConfigError`).
Secrets are `SecretStr`, so a repr or a log line of the settings never shows them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_POLL_SCHEDULE = (60, 120, 300, 600, 900, 1800, 3600)

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_RESPONDER_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")


class ConfigError(Exception):
    """One line for a person: which variable, what is wrong. Never contains a secret value."""


def _comma_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


class Endpoints(BaseSettings):
    """Where Slack and Microsoft are and how to reach them: the part of the configuration that `phishbot setup`
    needs before the apps (and so the tokens, ids and channels `Settings` requires) exist."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True, frozen=True
    )

    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    ms_authority_host: str = Field(default="https://login.microsoftonline.com", alias="MS_AUTHORITY_HOST")
    graph_url: str = Field(default="https://graph.microsoft.com", alias="GRAPH_URL")
    ssl_cert_file: Path | None = Field(default=None, alias="SSL_CERT_FILE")
    https_proxy: str | None = Field(default=None, alias="HTTPS_PROXY")

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://", value):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("ms_authority_host", "graph_url")
    @classmethod
    def _https_host(cls, value: str) -> str:
        # MSAL refuses non-https authorities; Graph carries tokens: both must be https.
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value.rstrip("/")


class Settings(Endpoints):
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    mode: Literal["socket", "http"] = Field(default="socket", alias="PHISHBOT_MODE")
    port: int = Field(default=3000, ge=0, le=65535, alias="PORT")
    soc_channel: str | None = Field(default=None, alias="PHISHBOT_SOC_CHANNEL")
    intake_channels: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="PHISHBOT_INTAKE_CHANNELS"
    )
    responders: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="PHISHBOT_RESPONDERS")

    ms_tenant_id: str | None = Field(default=None, alias="MS_TENANT_ID")
    ms_client_id: str | None = Field(default=None, alias="MS_CLIENT_ID")
    ms_client_secret: SecretStr | None = Field(default=None, alias="MS_CLIENT_SECRET")
    ms_client_certificate: Path | None = Field(default=None, alias="MS_CLIENT_CERTIFICATE")

    database_url: str = Field(default="sqlite:///phishbot.db", alias="DATABASE_URL")
    poll_schedule: Annotated[tuple[int, ...], NoDecode] = Field(
        default=DEFAULT_POLL_SCHEDULE, alias="PHISHBOT_POLL_SCHEDULE"
    )
    poll_give_up: int = Field(default=172800, gt=0, alias="PHISHBOT_POLL_GIVE_UP")
    max_upload_mb: int = Field(default=25, gt=0, le=1024, alias="PHISHBOT_MAX_UPLOAD_MB")
    purge_method: Literal["auto", "defender", "mailbox"] = Field(
        default="auto", alias="PHISHBOT_PURGE_METHOD"
    )
    auto_block: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="PHISHBOT_AUTO_BLOCK")
    # Messages employees report with Outlook's (or Teams') Report button: listed from Microsoft every poll.
    user_reports: Literal["on", "off"] = Field(default="on", alias="PHISHBOT_USER_REPORTS")
    user_reports_poll: int = Field(default=60, gt=0, le=86400, alias="PHISHBOT_USER_REPORTS_POLL")
    # Socket Mode connections each process keeps open (Slack delivers to any live one; at most 10 per app).
    socket_connections: int = Field(default=2, ge=1, le=10, alias="PHISHBOT_SOCKET_CONNECTIONS")
    # The weekly digest: off until a channel is named; the cron expression is read in the digest's time zone.
    digest_channel: str | None = Field(default=None, alias="PHISHBOT_DIGEST_CHANNEL")
    digest_cron: str = Field(default="0 9 * * mon", alias="PHISHBOT_DIGEST_CRON")
    digest_timezone: str = Field(default="UTC", alias="PHISHBOT_DIGEST_TIMEZONE")

    # Not part of the environment contract: how often the scheduler looks for due work. The demo and the
    # tests shorten it; production keeps the default, which is far below the shortest poll gap.
    sweep_seconds: float = Field(default=5.0, gt=0, alias="PHISHBOT_SWEEP_SECONDS")
    # Not part of the environment contract either: a Socket Mode ping this often, and a pong missing this long
    # closes a silent connection (so it is replaced within twice this). Only the tests shorten it.
    socket_ping_seconds: float = Field(default=5.0, gt=0, le=60, alias="PHISHBOT_SOCKET_PING_SECONDS")
    # Not part of the environment contract either: Microsoft accepts the same message once per 15 minutes. Only
    # the tests shorten it, to watch a throttled block go out without waiting a quarter of an hour.
    same_item_gap_seconds: float = Field(default=900.0, ge=0, alias="PHISHBOT_SAME_ITEM_GAP_SECONDS")

    @field_validator("intake_channels", mode="before")
    @classmethod
    def _channels(cls, value: object) -> list[str]:
        channels = _comma_list(value)
        for channel in channels:
            if not _CHANNEL_ID.match(channel):
                raise ValueError(f"{channel!r} is not a Slack channel id (C…/G…)")
        return channels

    @field_validator("responders", mode="before")
    @classmethod
    def _responders(cls, value: object) -> list[str]:
        ids = _comma_list(value)
        for item in ids:
            if not _RESPONDER_ID.match(item):
                raise ValueError(f"{item!r} is not a Slack user id (U…/W…) or user group id (S…)")
        return ids

    @field_validator("auto_block", mode="before")
    @classmethod
    def _auto_block(cls, value: object) -> list[str]:
        allowed = {"phishing", "malware", "spam"}
        categories = _comma_list(value)
        for item in categories:
            if item not in allowed:
                raise ValueError(f"{item!r} is not one of {', '.join(sorted(allowed))}")
        return categories

    @field_validator("user_reports", mode="before")
    @classmethod
    def _on_off(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("poll_schedule", mode="before")
    @classmethod
    def _schedule(cls, value: object) -> tuple[int, ...]:
        parts = _comma_list(value) if not isinstance(value, tuple) else list(value)
        if not parts:
            raise ValueError("needs at least one number of seconds")
        try:
            seconds = tuple(int(p) for p in parts)
        except ValueError:
            raise ValueError("must be a comma list of whole seconds, e.g. 60,120,300") from None
        if any(s <= 0 for s in seconds):
            raise ValueError("every gap must be more than 0 seconds")
        return seconds

    @field_validator("soc_channel", "digest_channel")
    @classmethod
    def _soc(cls, value: str | None) -> str | None:
        if value is not None and not _CHANNEL_ID.match(value):
            raise ValueError(f"{value!r} is not a Slack channel id (C…/G…)")
        return value

    @field_validator("digest_channel", mode="before")
    @classmethod
    def _digest_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("digest_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name (e.g. UTC, Europe/Paris)") from None
        return value

    @field_validator("digest_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(
                f"must be a crontab expression of five fields, e.g. '0 9 * * mon' ({exc})"
            ) from None
        return value

    @model_validator(mode="after")
    def _required(self) -> Settings:
        def need(name: str, present: bool, why: str = "") -> None:
            if not present:
                raise ConfigError(f"{name} is required{why}")

        need("SLACK_BOT_TOKEN", self.slack_bot_token is not None)
        need("PHISHBOT_SOC_CHANNEL", self.soc_channel is not None)
        if self.mode == "socket":
            need(
                "SLACK_APP_TOKEN", self.slack_app_token is not None, " in socket mode (PHISHBOT_MODE=socket)"
            )
        else:
            need(
                "SLACK_SIGNING_SECRET",
                self.slack_signing_secret is not None,
                " in http mode (PHISHBOT_MODE=http)",
            )
        need("MS_TENANT_ID", bool(self.ms_tenant_id))
        need("MS_CLIENT_ID", bool(self.ms_client_id))
        if self.ms_client_secret is None and self.ms_client_certificate is None:
            raise ConfigError("MS_CLIENT_SECRET or MS_CLIENT_CERTIFICATE is required")
        if self.ms_client_certificate is not None and not self.ms_client_certificate.is_file():
            raise ConfigError(f"MS_CLIENT_CERTIFICATE: no file at {self.ms_client_certificate}")
        token = self.slack_bot_token.get_secret_value() if self.slack_bot_token else ""
        if not token.startswith("xoxb-"):
            raise ConfigError("SLACK_BOT_TOKEN must be a bot token (xoxb-…)")
        if self.mode == "socket" and self.slack_app_token is not None:
            if not self.slack_app_token.get_secret_value().startswith("xapp-"):
                raise ConfigError("SLACK_APP_TOKEN must be an app-level token (xapp-…)")
        return self

    def client_certificate_pem(self) -> bytes | None:
        if self.ms_client_certificate is None:
            return None
        return self.ms_client_certificate.read_bytes()


_Loaded = TypeVar("_Loaded", bound=Endpoints)


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (and ./.env); raise ConfigError with one line naming the variable."""
    return _load(Settings, overrides)


def load_endpoints(**overrides: Any) -> Endpoints:
    """Only where Slack and Microsoft are (SLACK_API_URL, MS_AUTHORITY_HOST, GRAPH_URL, SSL_CERT_FILE,
    HTTPS_PROXY): what `phishbot setup` reads, before the rest of the configuration exists."""
    return _load(Endpoints, overrides)


def _load(kind: type[_Loaded], overrides: dict[str, Any]) -> _Loaded:
    try:
        return kind(**overrides)
    except ConfigError:
        raise
    except ValidationError as exc:
        error = exc.errors()[0]
        # A model-level ConfigError arrives wrapped by pydantic: surface its own sentence.
        ctx_error = (error.get("ctx") or {}).get("error")
        if isinstance(ctx_error, ConfigError):
            raise ConfigError(str(ctx_error)) from None
        loc = error.get("loc") or ()
        field_name = str(loc[0]) if loc else ""
        variable = _alias_of(field_name)
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        # Never echo the input of a secret field.
        raise ConfigError(f"{variable}: {message}") from None


def _alias_of(field_name: str) -> str:
    for name, info in Settings.model_fields.items():
        if name == field_name or info.alias == field_name:
            return info.alias or name.upper()
    return field_name.upper() or "configuration"
