"""One ``Settings`` object, read from the environment and ``.env``.

Every variable is ``NEWSLETTER_<FIELD>`` except ``SENDGRID_API_KEY``, which keeps
the name every SendGrid tool uses. ``load_settings`` turns pydantic's validation
errors into a ``SettingsError`` that names the variable, because a person reads
``NEWSLETTER_BATCH_SIZE``, not ``batch_size``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from newsletter.errors import SettingsError

ENV_PREFIX = "NEWSLETTER_"
DEV_SECRET_KEY = "dev-only-insecure-secret-change-me"
SENDGRID_API_KEY_ENV = "SENDGRID_API_KEY"


def _split_csv(value: Any) -> Any:
    # Lists come from the environment as "a,b,c", which is what people write in .env.
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """The effective configuration of one process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # Storage
    database_url: str = "sqlite:///var/newsletter.db"

    # Content and templates
    content_dir: Path = Path("content")
    templates_dir: Path = Path("templates")
    articles_per_issue: int = Field(default=3, ge=1, le=10)
    tips_per_issue: int = Field(default=2, ge=1, le=2)

    # Delivery
    sendgrid_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(SENDGRID_API_KEY_ENV, "NEWSLETTER_SENDGRID_API_KEY"),
    )
    sendgrid_api_url: str = "https://api.sendgrid.com"
    sender: Literal["sendgrid", "outbox"] | None = None
    outbox_dir: Path = Path("var/outbox")
    import_reports_dir: Path = Path("var/imports")
    from_email: str = "newsletter@riverbendclinic.example.org"
    from_name: str = "Riverbend Pain & Spine Clinic"
    reply_to: str | None = None
    postal_address: str = (
        "Riverbend Pain & Spine Clinic, 120 Mill Street, Suite 4, Springfield, ST 00000"
    )
    batch_size: int = Field(default=1000, ge=1, le=1000)
    send_concurrency: int = Field(default=4, ge=1, le=64)
    request_timeout: float = Field(default=30.0, gt=0, le=600)
    max_requests_per_second: float | None = Field(default=None, gt=0)
    # Staged sends: every batch reaches SendGrid at least this long before its send_at, so
    # an unknown outcome can still be cancelled (SendGrid's limit is 10 minutes).
    stage_lead_minutes: int = Field(default=30, ge=15, le=24 * 60)
    # False sends at once without batch ids: an unknown outcome then needs a person.
    stage_sends: bool = True

    # Links and tokens
    public_url: str = "https://newsletter.riverbendclinic.example.org"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    secret_key_fallbacks: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    confirm_token_max_age_hours: int = Field(default=72, ge=1)

    # Scheduling
    timezone: str = "America/New_York"
    send_schedule: str = "0 9 * * tue"
    assemble_schedule: str = "0 10 * * thu"
    misfire_grace_time: int = Field(default=6 * 3600, ge=1)
    require_approval: bool = True
    review_emails: Annotated[list[str], NoDecode] = Field(default_factory=list)
    feeds: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Web
    archive: bool = True
    sendgrid_webhook_public_key: str | None = None
    admin_token: SecretStr | None = None

    # Operations: data retention and metrics
    # SendGrid retries a webhook delivery for 24 h; a shorter retention would let a
    # late retry of an already-deleted event count twice.
    event_retention_days: int = Field(default=90, ge=3)
    metrics_token: SecretStr | None = None
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"

    # Logs
    log_format: Literal["kv", "json"] = "kv"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("secret_key_fallbacks", "review_emails", "feeds", mode="before")
    @classmethod
    def _lists_from_csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("feeds")
    @classmethod
    def _feed_urls(cls, value: list[str]) -> list[str]:
        bad = [url for url in value if not url.startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"every feed must be an http:// or https:// URL, not {bad[0]!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("sendgrid_api_url", "public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("send_schedule", "assemble_schedule")
    @classmethod
    def _cron_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("must be a 5-field cron expression, e.g. '0 9 * * tue'")
        return value

    @property
    def effective_sender(self) -> Literal["sendgrid", "outbox"]:
        """The sender in use: the explicit setting, else sendgrid when a key is set."""
        if self.sender is not None:
            return self.sender
        return "sendgrid" if self.sendgrid_api_key else "outbox"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self) -> dt.date:
        """Today where the clinic is, not where the server is: issue dates use this."""
        return dt.datetime.now(self.zone).date()

    @property
    def uses_dev_secret(self) -> bool:
        return self.secret_key.get_secret_value() == DEV_SECRET_KEY


def env_name(field: str) -> str:
    """The environment variable a person sets for ``field``."""
    if field == "sendgrid_api_key":
        return SENDGRID_API_KEY_ENV
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning validation errors into one clear ``SettingsError``."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            if field in (SENDGRID_API_KEY_ENV, "NEWSLETTER_SENDGRID_API_KEY"):
                field = "sendgrid_api_key"
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{env_name(field)}: {message} (got {error.get('input')!r})")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from exc


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The effective settings keyed by variable name, with secrets masked."""
    shown: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = _mask(value.get_secret_value())
        elif isinstance(value, list):
            value = [_mask(v.get_secret_value()) if isinstance(v, SecretStr) else v for v in value]
        elif isinstance(value, Path):
            value = str(value)
        elif name == "database_url":
            value = _mask_url_password(str(value))
        shown[env_name(name)] = value
    shown["(effective sender)"] = settings.effective_sender
    return shown


def _mask(secret: str) -> str:
    if not secret:
        return ""
    # Show a short prefix so ops can tell two keys apart without revealing either.
    return secret[:4] + "…" + "*" * 6 if len(secret) > 12 else "*" * 6


def _mask_url_password(url: str) -> str:
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:******@{host}"
    return url
