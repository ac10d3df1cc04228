"""A real SMTP server on loopback (aiosmtpd), for every test that sends email.

``smtp_server()`` starts one on a free port and stops it at the end; the server keeps what it
received (``messages``, parsed), can be told to refuse a recipient (``refuse``), and can be
stopped and started again on the same port (``stop``, ``start``) to play an outage::

    with smtp_server() as smtp:
        ...send to 127.0.0.1:smtp.port...
        await smtp.received(1)
        assert smtp.messages[0]["To"] == "bob@acme.com"
"""

from __future__ import annotations

import asyncio
import datetime
import email.policy
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from teamgate.config import Settings
from tests.support.tls import CA_CONFIG, openssl

HOST = "127.0.0.1"
NO_SUCH_USER = (550, "5.1.1 No such user")
TRY_AGAIN_LATER = (451, "4.3.0 Try again later")
TlsMode = Literal["starttls", "tls"]


@dataclass(frozen=True, slots=True)
class SmtpEnvelope:
    """Who the SMTP conversation said the message was from and to."""

    mail_from: str
    rcpt_tos: tuple[str, ...]


class _Controller(Controller):
    """aiosmtpd's controller, listening on the port given, or on a free one (port 0) that it
    then reports as ``port``."""

    def _trigger_server(self) -> None:
        server: Any = self.server  # an asyncio.Server once started
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]  # unannotated in aiosmtpd


class SmtpServer:
    """An SMTP server on 127.0.0.1 (see the module's docstring). Thread-safe enough for tests:
    the server's thread appends, the test reads after its client got the server's answer."""

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        tls: TlsMode | None = None,
        certificate_dir: Path | None = None,
    ) -> None:
        self.port = 0
        self.messages: list[EmailMessage] = []
        self.envelopes: list[SmtpEnvelope] = []
        self.credentials = credentials
        self.logins: list[tuple[str, bool]] = []  # (user name, accepted)
        self._refusals: dict[str, str] = {}
        self._tls = tls
        self._tls_context = _self_signed(certificate_dir) if tls and certificate_dir else None
        self._controller: _Controller | None = None
        self._lock = threading.Lock()

    # --- what the test says ----------------------------------------------------------------

    def refuse(
        self, address: str, code: int = NO_SUCH_USER[0], text: str = NO_SUCH_USER[1]
    ) -> None:
        """Answer ``RCPT TO:<address>`` with ``code text`` (550 by default) from now on."""
        self._refusals[address.lower()] = f"{code} {text}"

    def allow(self, address: str) -> None:
        """Accept ``address`` again."""
        self._refusals.pop(address.lower(), None)

    def start(self) -> None:
        """Listen (again, on the same port once it had one)."""
        assert self._controller is None, "already running"
        kwargs: dict[str, Any] = {"hostname": HOST, "port": self.port, "ready_timeout": 5.0}
        if self.credentials is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        if self._tls_context is not None:
            kwargs["ssl_context" if self._tls == "tls" else "tls_context"] = self._tls_context
        controller = _Controller(_Handler(self), **kwargs)
        controller.start()
        self._controller = controller
        self.port = controller.port

    def stop(self) -> None:
        """Stop listening: connections are refused until ``start``."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    async def received(self, count: int, *, within: float = 5.0) -> list[EmailMessage]:
        """The messages, once there are at least ``count`` (fails after ``within`` seconds)."""
        deadline = time.monotonic() + within
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"{len(self.messages)} of {count} messages came"
            await asyncio.sleep(0.02)
        return list(self.messages)

    # --- what the server does ---------------------------------------------------------------

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.credentials is None:
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        accepted = (user, password) == self.credentials
        with self._lock:
            self.logins.append((user, accepted))
        return AuthResult(success=accepted, handled=False)

    def _received(self, envelope: Envelope) -> None:
        content = envelope.original_content or b""
        parsed = BytesParser(policy=email.policy.default).parsebytes(content)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.envelopes.append(SmtpEnvelope(envelope.mail_from or "", tuple(envelope.rcpt_tos)))
            self.messages.append(parsed)


class _Handler:
    """aiosmtpd's hooks: each returns the SMTP reply."""

    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.owner.credentials is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.owner._refusals.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.owner._received(envelope)
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(
    *, credentials: tuple[str, str] | None = None, tls: TlsMode | None = None
) -> Iterator[SmtpServer]:
    """A running SMTP server on loopback, stopped at the end. ``credentials``: (user, password)
    it requires before MAIL FROM; ``tls``: it speaks STARTTLS or implicit TLS with a
    self-signed certificate (which no client that checks certificates accepts)."""
    with tempfile.TemporaryDirectory(prefix="teamgate-smtp-") as directory:
        server = SmtpServer(credentials=credentials, tls=tls, certificate_dir=Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word (a hung SMTP server)."""
    with socket.create_server((HOST, 0)) as listener:
        yield listener.getsockname()[1]


# A certificate signed with its request's own key (`openssl ca -selfsign`; see tls.CA_CONFIG).
_OPENSSL_CONFIG = (
    CA_CONFIG
    + f"""[server_ext]
subjectAltName = IP:{HOST}
subjectKeyIdentifier = none
authorityKeyIdentifier = none
"""
)


def _self_signed(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1 (EC P-256,
    SHA-256, valid from five minutes ago for a day), made in ``directory``."""
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    (directory / "openssl.cnf").write_text(_OPENSSL_CONFIG)
    (directory / "index.txt").write_text("")
    curve = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    openssl(directory, "genpkey", *curve, "-out", str(key_file))
    key_file.chmod(0o600)
    openssl(directory, "req", "-config", "openssl.cnf", "-new", "-key", str(key_file),
             "-subj", f"/CN={HOST}", "-out", "cert.csr")  # fmt: skip
    openssl(directory, "ca", "-config", "openssl.cnf", "-batch", "-notext", "-rand_serial",
             "-startdate", f"{start:%y%m%d%H%M%SZ}", "-enddate", f"{end:%y%m%d%H%M%SZ}",
             "-selfsign", "-keyfile", str(key_file), "-extensions", "server_ext",
             "-in", "cert.csr", "-out", str(cert_file))  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def delivering_to(settings: Settings, server: SmtpServer) -> Settings:
    """``settings`` that send mail to ``server`` (plain SMTP on loopback)."""
    return settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": server.port, "smtp_security": "none"}
    )
