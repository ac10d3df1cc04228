"""Settings, read once from the environment (prefix ``TEAMGATE_``) and an optional ``.env`` file."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_PORT = 8000
SECRET_KEY_FILE = "secret.key"  # noqa: S105 (a file name, not a secret)


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


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
    db_pool_size: int = Field(default=10, gt=0)

    @field_validator("public_url", "trusted_proxies", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("public_url")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [origin.rstrip("/") for origin in value]

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
