"""Transports: how a message leaves teamgate. SMTP when a host is configured; otherwise a
file per message under the data folder, for a newcomer with no mail server to open."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import ssl
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import aiosmtplib

from teamgate.config import DEFAULT_MAIL_FROM, mail_address
from teamgate.mail.message import DeliveryError, Message, mime, sender_address

if TYPE_CHECKING:
    from teamgate.config import Settings

log = logging.getLogger("teamgate")

MAIL_FOLDER = "mail"


class Transport(Protocol):
    async def send(self, message: Message) -> None:
        """Deliver ``message``, or raise DeliveryError saying why not and whether to retry."""
        ...


def transport_for(settings: Settings) -> Transport:
    """SMTP when ``TEAMGATE_SMTP_HOST`` is set; otherwise files under the data folder."""
    if settings.smtp_host:
        return SmtpTransport(settings)
    folder = (settings.data_dir / MAIL_FOLDER).absolute()  # the log names a file one can open
    return FileTransport(folder, mail_from=settings.mail_from)


def wire_bytes(message: Message, mail_from: str) -> tuple[str, bytes]:
    """The envelope recipient and the bytes sent for ``message``; a message that cannot be
    written (a malformed address, a line break in a header) is a permanent DeliveryError."""
    try:
        recipient = mail_address(message.to)
    except ValueError:
        raise DeliveryError("Invalid recipient address", permanent=True) from None
    if recipient.display_name:
        raise DeliveryError("Invalid recipient address", permanent=True)
    try:
        return recipient.addr_spec, mime(message, mail_from).as_bytes()
    except ValueError:
        raise DeliveryError("Invalid message header", permanent=True) from None


class SmtpTransport:
    """Sends through an SMTP server (aiosmtplib), one connection per message."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise ValueError("SmtpTransport needs TEAMGATE_SMTP_HOST")
        self.host = settings.smtp_host
        self.port = settings.smtp_port_resolved
        self.security = settings.smtp_security
        self.username = settings.smtp_username
        self.password = settings.smtp_password
        self.timeout = settings.smtp_timeout_seconds
        self.mail_from = settings.mail_from
        self.sender = sender_address(settings.mail_from)

    def __repr__(self) -> str:  # never the password
        return f"SmtpTransport({self.host}:{self.port}, {self.security})"

    async def send(self, message: Message) -> None:
        recipient, data = wire_bytes(message, self.mail_from)
        password = self.password.get_secret_value() if self.password is not None else None
        try:
            await aiosmtplib.send(
                data,
                sender=self.sender,
                recipients=[recipient],
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=password if self.username is not None else None,
                timeout=self.timeout,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",  # "none": never, even if offered
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            raise _refused(refused) from None
        except aiosmtplib.SMTPAuthenticationError as error:
            # The server refused our credentials, not this message: once the configuration is
            # fixed, a retry succeeds, so the invitations waiting meanwhile do not all fail.
            raise DeliveryError(
                f"SMTP login refused: {_reply(error.code, error.message)}", permanent=False
            ) from None
        except aiosmtplib.SMTPResponseException as error:
            raise DeliveryError(
                f"SMTP server answered {_reply(error.code, error.message)}",
                permanent=error.code >= 500,
            ) from None
        except (aiosmtplib.SMTPException, OSError, UnicodeError) as error:
            # Refused or dropped connections, timeouts (TimeoutError is an OSError), TLS
            # failures (ssl.SSLError is one too), a server that lacks STARTTLS or AUTH, a host
            # name that cannot be looked up (UnicodeError: one the IDNA codec refuses).
            raise DeliveryError(self._network_reason(error), permanent=False) from None

    def _network_reason(self, error: Exception) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        where = f"the SMTP server {host}:{self.port}"
        cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
        if isinstance(error, TimeoutError) or isinstance(cause, TimeoutError):
            return f"Timed out talking to {where} (after {self.timeout:g} s)"
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed with {where}: {_tls_failure(cause)}"
        if isinstance(error, aiosmtplib.SMTPServerDisconnected):
            return f"Lost the connection to {where}: {error.message}"
        if isinstance(error, aiosmtplib.SMTPConnectError) or not isinstance(
            error, aiosmtplib.SMTPException
        ):
            return f"Cannot reach {where}: {_os_failure(cause)}"
        return f"Cannot use {where}: {error.message}"  # no STARTTLS, no AUTH, ...


def _reply(code: int, text: str) -> str:
    return f"{code} {text}".strip()


def _tls_failure(error: ssl.SSLError) -> str:
    why = error.reason or type(error).__name__
    detail = getattr(error, "verify_message", None)  # "self-signed certificate", ...
    return f"{why} ({detail})" if detail else why


def _os_failure(error: BaseException) -> str:
    """``Connection refused`` rather than asyncio's ``Connect call failed ('10.0.0.1', 25)``."""
    if isinstance(error, OSError):
        if isinstance(error.errno, int) and error.errno > 0:
            return os.strerror(error.errno)
        if error.strerror:
            return error.strerror  # a name that does not resolve, ...
    if isinstance(error, aiosmtplib.SMTPException):
        return error.message
    return str(error) or type(error).__name__


def _refused(refused: aiosmtplib.SMTPRecipientsRefused) -> DeliveryError:
    """Every recipient was refused (we send to one): permanent when every refusal is a 5xx."""
    replies = refused.recipients
    reason = "; ".join(_reply(r.code, r.message) for r in replies) or "no recipient accepted"
    permanent = bool(replies) and all(r.code >= 500 for r in replies)
    return DeliveryError(f"SMTP server refused the recipient: {reason}", permanent=permanent)


class FileTransport:
    """Writes each message as an ``.eml`` file (the very bytes SMTP would carry) that a mail
    program opens. The file holds a one-use link: it is private (0600), and the log names the
    file, never the link."""

    def __init__(self, directory: Path, *, mail_from: str = DEFAULT_MAIL_FROM) -> None:
        self.directory = directory
        self.mail_from = mail_from

    def __repr__(self) -> str:
        return f"FileTransport({self.directory})"

    async def send(self, message: Message) -> None:
        await self.write(message)

    async def write(self, message: Message) -> Path:
        """Write ``message``; the path of its file."""
        _, data = wire_bytes(message, self.mail_from)
        try:
            path = await asyncio.to_thread(self._write, data)
        except OSError as error:
            why = error.strerror or type(error).__name__
            raise DeliveryError(
                f"Cannot write the email to {self.directory}: {why}", permanent=False
            ) from None
        log.info("Email to %s written to %s", message.to, path)
        return path

    def _write(self, data: bytes) -> Path:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Sortable by time; the random part keeps two messages in one microsecond apart.
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.directory / f"{stamp}-{secrets.token_hex(4)}.eml"
        # Written whole to a private temporary file (mkstemp: mode 0600), then renamed: a
        # reader never sees half a message.
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".mail-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
        return path
