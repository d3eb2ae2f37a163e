"""One ``Settings`` object, read from the environment and ``.env``.

Every variable is ``NEWSLETTER_<FIELD>`` except ``SENDGRID_API_KEY``, which keeps
the name every SendGrid tool uses. ``load_settings`` turns pydantic's validation
errors into a ``SettingsError`` that names the variable, because a person reads
``NEWSLETTER_BATCH_SIZE``, not ``batch_size``.

The variables are read here (``_from_environment``) rather than by pydantic-settings,
which imports asyncio, argparse and its cloud-secret sources and cost every command
about 0.09 s of CPU. The rules are the ones it applied: names are not case-sensitive,
the environment wins over ``.env`` (read with python-dotenv, in the current folder),
arguments to ``load_settings`` win over both, and the values reach pydantic as text.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from newsletter.errors import SettingsError

ENV_PREFIX = "NEWSLETTER_"
# The key older versions shipped in the source and .env.example: public, so refused.
DEV_SECRET_KEY = "dev-only-insecure-secret-change-me"
MIN_SECRET_KEY_BYTES = 32
MAKE_SECRET_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
# Written by `newsletter quickstart` on its first run when no key is set, and used after
# that by every command run from the same folder (the demo keeps working under serve).
DEMO_SECRET_KEY_FILE = Path("var/secret_key")
SENDGRID_API_KEY_ENV = "SENDGRID_API_KEY"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _split_csv(value: Any) -> Any:
    # Lists come from the environment as "a,b,c", which is what people write in .env.
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseModel):
    """The effective configuration of one process (``load_settings`` reads it)."""

    _key_from_file: bool = PrivateAttr(default=False)

    model_config = ConfigDict(extra="ignore", validate_default=True, populate_by_name=True)

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
    # Outcomes SendGrid gave that the database could not record (it stayed unreachable);
    # the next `issue send` on this host applies them first.
    send_journal_dir: Path = Path("var/send-journal")
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
    # How long after an issue's delivery time retries may still send it: 429s and 5xx are
    # retried (and failed batches resumed) until this closes, then the send is a failure.
    send_window_minutes: int = Field(default=720, ge=10, le=72 * 60)
    # A staged batch whose outcome is unknown and that could not be cancelled counts as
    # not received, and is sent again, when the webhook has shown no processed/delivered
    # event for it this long after its send_at while later batches of the issue have some.
    unknown_grace_minutes: int = Field(default=60, ge=10, le=24 * 60)
    # How long a send keeps retrying, on a fresh connection, the database writes around a
    # request (claim, request start, outcome) when the connection drops.
    db_reconnect_seconds: float = Field(default=60.0, gt=0, le=3600)

    # Links and tokens
    public_url: str = "https://newsletter.riverbendclinic.example.org"
    # Local trials only: lets NEWSLETTER_PUBLIC_URL be http:// on a loopback host.
    allow_insecure_public_url: bool = False
    # No built-in key: anyone who read the source could forge every subscriber's links.
    secret_key: SecretStr = SecretStr("")
    secret_key_fallbacks: list[SecretStr] = Field(default_factory=list)
    confirm_token_max_age_hours: int = Field(default=72, ge=1)

    # Scheduling
    timezone: str = "America/New_York"
    send_schedule: str = "0 9 * * tue"
    assemble_schedule: str = "0 10 * * thu"
    misfire_grace_time: int = Field(default=6 * 3600, ge=1)
    # The name this machine goes by in the leader lease and the issues' send leases; two
    # schedulers on different machines (or containers) must not share one.
    host_name: str = Field(
        default_factory=socket.gethostname, min_length=1, max_length=100, pattern=r"^[^:\s]+$"
    )
    # Seconds a silent scheduler leader, or a silent sender of an issue, is trusted before
    # another process on another host takes over (a quarter of it: the heartbeat). A sender
    # renews its lease at least every 5 s while requests are in flight, hence the minimum.
    lease_seconds: int = Field(default=60, ge=6, le=600)
    require_approval: bool = True
    review_emails: list[str] = Field(default_factory=list)
    feeds: list[str] = Field(default_factory=list)

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

    @model_validator(mode="after")
    def _https_public_url(self) -> Settings:
        # Links in emails are opened from anywhere: over plain http their tokens could be
        # read or rewritten on the way, and the render checks refuse http links anyway.
        parts = urlsplit(self.public_url)
        if parts.scheme == "https" and parts.hostname:
            return self
        if (
            parts.scheme == "http"
            and (parts.hostname or "") in LOOPBACK_HOSTS
            and self.allow_insecure_public_url
        ):
            return self
        hint = (
            " (for a local trial on this machine, also set NEWSLETTER_ALLOW_INSECURE_PUBLIC_URL=1)"
            if parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS
            else ""
        )
        raise ValueError(
            f"NEWSLETTER_PUBLIC_URL must be an https:// URL with a host, got "
            f"{self.public_url!r}{hint}"
        )

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

    def model_post_init(self, context: Any, /) -> None:
        if not self.secret_key.get_secret_value() and DEMO_SECRET_KEY_FILE.is_file():
            self.secret_key = SecretStr(DEMO_SECRET_KEY_FILE.read_text("utf-8").strip())
            self._key_from_file = True

    @property
    def secret_key_from_file(self) -> bool:
        """True when the key came from ``DEMO_SECRET_KEY_FILE`` (no NEWSLETTER_SECRET_KEY)."""
        return self._key_from_file

    def signing_key(self) -> str:
        """The key that signs tokens and sessions; ``SettingsError`` unless it is safe.

        Every command that makes a token asks for it this way, so none can run on the
        built-in development key, on no key, or on a short one.
        """
        key = self.secret_key.get_secret_value()
        problem = secret_key_problem(key)
        if problem is not None:
            raise SettingsError(
                f"NEWSLETTER_SECRET_KEY {problem}. It signs every unsubscribe and confirm "
                "link, so it must be a long random secret that only this installation "
                f"knows. Make one with\n  {MAKE_SECRET_KEY}\nand set NEWSLETTER_SECRET_KEY "
                "to it (in the environment or .env). `newsletter quickstart` makes one for "
                "the local demo by itself."
            )
        if any(f.get_secret_value() == DEV_SECRET_KEY for f in self.secret_key_fallbacks):
            raise SettingsError(
                "NEWSLETTER_SECRET_KEY_FALLBACKS holds the built-in development key, which "
                "anyone can read in the source: links signed with it could be forged. "
                "Remove it from the list."
            )
        return key


def secret_key_problem(key: str) -> str | None:
    """What is wrong with ``key`` as NEWSLETTER_SECRET_KEY, or None."""
    if not key:
        return "is not set"
    if key == DEV_SECRET_KEY:
        return "is the built-in development key, which anyone can read in the source"
    size = len(key.encode("utf-8"))
    if size < MIN_SECRET_KEY_BYTES:
        return f"is {size} bytes long; it needs at least {MIN_SECRET_KEY_BYTES}"
    return None


def env_name(field: str) -> str:
    """The environment variable a person sets for ``field``."""
    if field == "sendgrid_api_key":
        return SENDGRID_API_KEY_ENV
    return f"{ENV_PREFIX}{field.upper()}"


DOTENV_FILE = Path(".env")


def _variables(name: str, field: FieldInfo) -> tuple[str, ...]:
    """The variables that may set ``name``, first choice first."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(str(choice) for choice in alias.choices)
    return (f"{ENV_PREFIX}{name.upper()}",)


def _from_environment() -> dict[str, Any]:
    """Each setting given in the environment or ``.env``, by the name pydantic validates.

    A setting with alias choices (``SENDGRID_API_KEY``) is keyed by its first choice, so
    validation errors name the variable.
    """
    environment = {key.lower(): value for key, value in os.environ.items()}
    dotenv: dict[str, str | None] = {}
    if DOTENV_FILE.is_file():
        from dotenv import dotenv_values  # only when there is a file to read

        dotenv = {k.lower(): v for k, v in dotenv_values(DOTENV_FILE, encoding="utf-8").items()}
    values: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        variables = _variables(name, field)
        key = variables[0] if field.validation_alias is not None else name
        for source in (environment, dotenv):
            found = next(
                (source[v.lower()] for v in variables if source.get(v.lower()) is not None), None
            )
            if found is not None:
                values[key] = found
                break
    return values


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning validation errors into one clear ``SettingsError``.

    ``overrides`` (by field name) win over the environment and ``.env``.
    """
    given = _from_environment()
    for name in overrides:
        info = Settings.model_fields.get(name)
        if info is not None:
            for variable in _variables(name, info):
                given.pop(variable, None)  # an alias key the override replaces
    try:
        return Settings.model_validate({**given, **overrides})
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            if not error["loc"]:
                # A check across fields: its message names the variables itself.
                lines.append(str(error["msg"]).removeprefix("Value error, "))
                continue
            field = str(error["loc"][0])
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
