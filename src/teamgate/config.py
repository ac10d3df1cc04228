"""Settings, read once from the environment (prefix ``TEAMGATE_``) and an optional ``.env`` file."""

from __future__ import annotations

import contextlib
import email.policy
import os
import re
import secrets
import string
import tempfile
from email.headerregistry import Address
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_PORT = 8000
SECRET_KEY_FILE = "secret.key"  # noqa: S105 (a file name, not a secret)
DEFAULT_MAIL_FROM = "teamgate <teamgate@localhost>"
DEFAULT_INVITATION_SUBJECT = "{inviter} invited you to {account} on teamgate"
SUBJECT_PLACEHOLDERS = frozenset({"account", "inviter"})
SMTP_PORTS = {"none": 25, "starttls": 587, "tls": 465}
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def mail_address(value: str) -> Address:
    """The one address of a ``From`` value (``name <user@host>`` or ``user@host``): an ASCII
    local part and host name, so that any SMTP server takes it; raises ValueError otherwise."""
    if any(char in value for char in "\r\n\0"):
        raise ValueError("must be one line")
    header = email.policy.SMTP.header_factory("From", value.strip())
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if header.defects or len(addresses) != 1:
        raise ValueError("must be one address, like `teamgate <teamgate@example.com>`")
    address = addresses[0]
    if not (_LOCAL_PART.fullmatch(address.username) and _DOMAIN.fullmatch(address.domain)):
        raise ValueError("must be an address with an ASCII user and host name")
    return address


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TEAMGATE_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Path("./data")
    database_url: str | None = None
    public_url: Annotated[list[str], NoDecode] = Field(default_factory=list)
    secret_key: SecretStr | None = None
    session_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rate_limit_storage: str = "memory://"
    rate_limit_login_per_email: str = "10 per 15 minutes"
    rate_limit_login_per_client: str = "100 per 15 minutes"
    rate_limit_accept_per_client: str = "100 per 15 minutes"
    rate_limit_invite_per_account: str = "1000 per hour"
    rate_limit_resend_per_invitation: str = "5 per hour"
    rate_limit_reset_per_email: str = "3 per hour"
    rate_limit_reset_per_client: str = "30 per hour"
    rate_limit_ask_per_email: str = "2 per day"
    db_pool_size: int = Field(default=10, gt=0)
    # Email (see docs/mail.md). Without an SMTP host, each email is written to a file.
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_timeout_seconds: float = Field(default=10, gt=0)
    mail_from: str = DEFAULT_MAIL_FROM
    mail_invitation_subject: str = DEFAULT_INVITATION_SUBJECT
    # The delivery worker.
    mail_worker: bool = True
    mail_max_attempts: int = Field(default=8, ge=1)
    mail_retry_base_seconds: float = Field(default=5, gt=0)
    mail_retry_cap_seconds: float = Field(default=300, gt=0)
    mail_poll_seconds: float = Field(default=2, gt=0)
    # Logs (see docs/operations.md): unset, text on a terminal and JSON lines otherwise.
    log_format: Literal["json", "text"] | None = None

    @field_validator("public_url", "trusted_proxies", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("public_url")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [origin.rstrip("/") for origin in value]

    @field_validator("smtp_host", "smtp_port", "smtp_username", "smtp_password", mode="before")
    @classmethod
    def _optional(cls, value: object) -> object:
        """An empty variable (``TEAMGATE_SMTP_HOST=``) is an unset one."""
        return _blank_is_none(value)

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> object:
        """``JSON`` as well as ``json``; an empty variable is an unset one."""
        value = _blank_is_none(value)
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("smtp_host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value != value.strip() or any(c.isspace() for c in value):
            raise ValueError("must be a host name or address, without spaces")
        try:
            value.encode("idna")
        except UnicodeError:
            raise ValueError("is not a valid host name") from None
        return value

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        mail_address(value)
        return value.strip()

    @field_validator("mail_invitation_subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        """A format string whose only placeholders are ``{account}`` and ``{inviter}``."""
        if any(char in value for char in "\r\n\0"):
            raise ValueError("must be one line")
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(value)]
        except ValueError as error:
            raise ValueError(f"is not a valid template: {error}") from None
        for field in fields:
            if field is not None and field not in SUBJECT_PLACEHOLDERS:
                raise ValueError(
                    f"may only use the placeholders {{account}} and {{inviter}}, not {{{field}}}"
                )
        try:
            value.format(account="account", inviter="inviter")
        except ValueError as error:
            raise ValueError(f"is not a valid template: {error}") from None
        return value

    @property
    def smtp_port_resolved(self) -> int:
        """The configured port, or the usual one for the security chosen."""
        return self.smtp_port if self.smtp_port is not None else SMTP_PORTS[self.smtp_security]

    @cached_property
    def resolved_database_url(self) -> str:
        """The URL to connect to, with the async driver chosen for the user."""
        from teamgate.db import async_url

        if self.database_url:
            return async_url(self.database_url)
        return async_url(f"sqlite:///{(self.data_dir / 'teamgate.db').resolve()}")

    @property
    def public_origins(self) -> list[str]:
        """Origins invite links may point to; the first is the default."""
        if self.public_url:
            return self.public_url
        return [f"http://127.0.0.1:{DEFAULT_PORT}", f"http://localhost:{DEFAULT_PORT}"]

    @property
    def secure_cookies(self) -> bool:
        return self.public_origins[0].startswith("https://")

    @cached_property
    def signing_key(self) -> bytes:
        """The invite-code signing key: configured, or generated once into a 0600 key file."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / SECRET_KEY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            # Written whole to a private temporary file, then linked into place: concurrent
            # first starts (several workers) all end up reading the one key that won.
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-")
            try:
                with os.fdopen(fd, "w") as handle:  # mkstemp creates it with mode 0600
                    handle.write(secrets.token_urlsafe(48))
                with contextlib.suppress(FileExistsError):
                    os.link(temporary, path)
            finally:
                os.unlink(temporary)
        return path.read_bytes().strip()
