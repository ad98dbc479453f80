"""One Settings object for the whole application, read from the environment and `.env`."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_CLIENT_ID = "mass-mailer-demo"
DEMO_CLIENT_SECRET = "mass-mailer-demo-secret"


class SettingsError(RuntimeError):
    """Configuration that cannot work; the message is one line meant for an operator."""


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and loopback IP addresses."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Every setting of the contract, with its default."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str | None = None
    redis_url: str | None = None
    secret_key: SecretStr | None = None
    token_encryption_keys: SecretStr | None = None

    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    google_auth_uri: str = "https://accounts.google.com/o/oauth2/auth"
    google_token_uri: str = "https://oauth2.googleapis.com/token"
    google_userinfo_uri: str = "https://openidconnect.googleapis.com/v1/userinfo"
    google_revoke_uri: str = "https://oauth2.googleapis.com/revoke"
    gmail_api_endpoint: str = "https://gmail.googleapis.com/"

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    admin_emails: str = ""
    allowed_emails: str = ""  # with ALLOWED_DOMAINS: who may sign in (empty: anyone); ADMIN_EMAILS always may
    allowed_domains: str = ""
    sender_rate_per_minute: int = Field(60, ge=1, le=10_000)
    default_daily_quota: int = Field(2000, ge=1, le=1_000_000)
    demo_mode: bool = False
    unsubscribe_mailto: str = ""  # an address for mail-based unsubscribes, listed in List-Unsubscribe too
    warmup_default: bool = False  # new senders start with the warm-up ramp on
    unsubscribe_rate_limit: str = "60/minute"  # the public unsubscribe endpoints, per client address

    emulator_port: int = 8025
    var_dir: Path = Path("var")
    log_format: str = "text"
    log_level: str = "INFO"
    jwt_ttl_minutes: int = Field(60, ge=1, le=24 * 60)
    max_upload_mb: int = Field(10, ge=1)
    max_recipients: int = Field(100_000, ge=1)
    worker_processes: int = Field(2, ge=1)
    worker_threads: int = Field(8, ge=1)
    auth_rate_limit: str = "60/minute"  # sign-in starts per client address (an office shares one address)
    trusted_proxies: str = ""  # comma-separated IPs or CIDRs whose X-Forwarded-For names the client
    job_rate_limit: str = "30/minute"
    sender_connect_rate_limit: str = "10/minute"
    send_batch_size: int = Field(500, ge=1)  # sends per queue message before it hands over to a fresh one
    lease_seconds: int = Field(120, ge=5)  # a claim older than this is a send whose worker died
    max_attempts: int = Field(5, ge=1)
    gmail_timeout_seconds: float = Field(30.0, gt=0)
    scheduler_interval_seconds: float = Field(2.0, gt=0)
    startup_wait_seconds: float = Field(10.0, ge=0)  # how long a command waits for PostgreSQL/Redis to answer

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in {"text", "json"}:
            raise ValueError("LOG_FORMAT must be 'text' or 'json'")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                try:
                    ipaddress.ip_network(item.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"TRUSTED_PROXIES: {item.strip()!r} is not an IP address or network") from None
        return value

    @field_validator("unsubscribe_mailto")
    @classmethod
    def _unsubscribe_mailto(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[^@\s<>?,;]+@[^@\s<>?,;]+\.[^@\s<>?,;]+", value):
            raise ValueError("UNSUBSCRIBE_MAILTO must be a plain email address")
        return value

    @field_validator("auth_rate_limit", "job_rate_limit", "sender_connect_rate_limit", "unsubscribe_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse

        parse(value)  # raises ValueError on a malformed limit such as "20 per"
        return value

    @model_validator(mode="after")
    def _demo_defaults_and_safety(self) -> "Settings":
        if self.demo_mode:
            if not is_loopback_host(self.host):
                raise ValueError("demo mode lets anyone sign in as anyone: HOST must be a loopback address")
            if self.public_url and not is_loopback_host(urlsplit(self.public_url).hostname):
                raise ValueError("demo mode lets anyone sign in as anyone: PUBLIC_URL must be a loopback address")
            if not self.google_client_id:
                self._point_at_emulator()
            if not self.secret_key or not self.token_encryption_keys:
                generated = demo_secrets(self.var_dir)
                self.secret_key = self.secret_key or SecretStr(generated["SECRET_KEY"])
                self.token_encryption_keys = self.token_encryption_keys or SecretStr(
                    generated["TOKEN_ENCRYPTION_KEYS"])
        for name in ("google_auth_uri", "google_token_uri", "google_userinfo_uri", "google_revoke_uri",
                     "gmail_api_endpoint"):
            url = urlsplit(getattr(self, name))
            if url.scheme == "http" and not is_loopback_host(url.hostname):
                raise ValueError(f"{name.upper()} may use plain http only on a loopback address")
            if url.scheme not in {"http", "https"}:
                raise ValueError(f"{name.upper()} must be an http(s) URL")
        return self

    def _point_at_emulator(self) -> None:
        base = f"http://127.0.0.1:{self.emulator_port}"
        self.google_client_id = DEMO_CLIENT_ID
        self.google_client_secret = SecretStr(DEMO_CLIENT_SECRET)
        self.google_auth_uri = f"{base}/o/oauth2/auth"
        self.google_token_uri = f"{base}/token"
        self.google_userinfo_uri = f"{base}/v1/userinfo"
        self.google_revoke_uri = f"{base}/revoke"
        self.gmail_api_endpoint = f"{base}/"

    @property
    def emulator_url(self) -> str:
        """Base URL of the built-in Google emulator (demo mode)."""
        return f"http://127.0.0.1:{self.emulator_port}"

    @property
    def app_url(self) -> str:
        """Where browsers reach the app."""
        return (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def oauth_redirect_uri(self) -> str:
        """The OAuth redirect URI registered with Google."""
        return f"{self.app_url}/api/auth/callback"

    @property
    def admin_email_set(self) -> set[str]:
        """ADMIN_EMAILS, lower-cased."""
        return _lower_set(self.admin_emails)

    @property
    def allowed_email_set(self) -> set[str]:
        """ALLOWED_EMAILS, lower-cased."""
        return _lower_set(self.allowed_emails)

    @property
    def allowed_domain_set(self) -> set[str]:
        """ALLOWED_DOMAINS, lower-cased, without a leading "@"."""
        return {d.lstrip("@") for d in _lower_set(self.allowed_domains)}

    def may_sign_in(self, email: str) -> bool:
        """Whether this Google account may sign in: anyone when ALLOWED_EMAILS and ALLOWED_DOMAINS are both empty,
        else only the addresses and domains (exactly, not their subdomains) they name, and ADMIN_EMAILS."""
        emails, domains = self.allowed_email_set, self.allowed_domain_set
        if not emails and not domains:
            return True
        email = email.strip().lower()
        return (email in emails or email in self.admin_email_set
                or email.rpartition("@")[2] in domains)

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """TRUSTED_PROXIES as networks (a single address is a /32 or /128)."""
        return tuple(ipaddress.ip_network(item.strip(), strict=False)
                     for item in self.trusted_proxies.split(",") if item.strip())

    @property
    def google_endpoints_are_loopback(self) -> bool:
        """True when every Google URL points at this machine (the emulator)."""
        urls = (self.google_auth_uri, self.google_token_uri, self.google_userinfo_uri,
                self.google_revoke_uri, self.gmail_api_endpoint)
        return all(is_loopback_host(urlsplit(u).hostname) for u in urls)

    @property
    def sqlalchemy_url(self) -> str:
        """DATABASE_URL in the form SQLAlchemy's psycopg2 dialect wants."""
        if not self.database_url:
            raise SettingsError("DATABASE_URL is not set (or run `python -m mass_mailer up`)")
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg2://" + url[len(prefix):]
        return url

    @property
    def fernet_keys(self) -> list[str]:
        """TOKEN_ENCRYPTION_KEYS split; the first encrypts, all decrypt."""
        if not self.token_encryption_keys:
            raise SettingsError("TOKEN_ENCRYPTION_KEYS is not set")
        return [k.strip() for k in self.token_encryption_keys.get_secret_value().split(",") if k.strip()]

    def require_database(self) -> None:
        """Fail with one line when the database or Redis is not configured."""
        if not self.database_url:
            raise SettingsError("DATABASE_URL is not set (or run `python -m mass_mailer up`)")
        if not self.redis_url:
            raise SettingsError("REDIS_URL is not set (or run `python -m mass_mailer up`)")

    def require_serving(self) -> None:
        """Fail with one line unless everything `web`, `worker` and `scheduler` need is set."""
        self.require_database()
        if not self.demo_mode and not self.google_client_id:
            raise SettingsError("GOOGLE_CLIENT_ID is not set: configure Google OAuth or set DEMO_MODE=1")
        if not self.demo_mode and not self.google_client_secret:
            raise SettingsError("GOOGLE_CLIENT_SECRET is not set")
        if not self.secret_key:
            raise SettingsError("SECRET_KEY is not set")
        if len(self.secret_key.get_secret_value()) < 32:
            raise SettingsError("SECRET_KEY must be at least 32 characters")
        if not self.token_encryption_keys:
            raise SettingsError("TOKEN_ENCRYPTION_KEYS is not set")
        for key in self.fernet_keys:
            try:
                Fernet(key.encode())
            except ValueError:
                raise SettingsError("TOKEN_ENCRYPTION_KEYS holds a key that is not a valid Fernet key") from None


def _lower_set(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(",") if item.strip()}


def demo_secrets(var_dir: Path) -> dict[str, str]:
    """SECRET_KEY and TOKEN_ENCRYPTION_KEYS for demo mode, generated once into var_dir."""
    var_dir.mkdir(parents=True, exist_ok=True)
    values = {}
    for name, make in (("SECRET_KEY", lambda: secrets.token_urlsafe(48)),
                       ("TOKEN_ENCRYPTION_KEYS", lambda: Fernet.generate_key().decode())):
        path = var_dir / name.lower()
        if not path.exists():
            # Written aside, then linked into place: commands started together never read a half-written file,
            # and the first one to link wins.
            aside = var_dir / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(make())
            try:
                os.link(aside, path)
            except FileExistsError:
                pass
            finally:
                aside.unlink()
        values[name] = path.read_text().strip()
    return values


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, built once."""
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (after the environment changed)."""
    get_settings.cache_clear()
