"""Transports against a real SMTP server on loopback, and the file transport."""

from __future__ import annotations

import logging
import stat
import time
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from teamgate.config import Settings
from teamgate.mail.message import DeliveryError, Message
from teamgate.mail.transport import FileTransport, SmtpTransport, transport_for
from tests.support.smtp import TRY_AGAIN_LATER, SmtpServer, silent_server, smtp_server

LINK = "http://testserver/signup?signupInvitationCode=secret-code-123&signupEmailId=bob@acme.com"


def message(to: str = "bob@acme.com", **changes: str) -> Message:
    fields = {
        "to": to,
        "subject": "Zoë Ørsted invited you to Café Ünïcode on teamgate",
        "text": f"Hello Bob, from Zoë.\n\n{LINK}\n",
        "html": f'<p>Hello Bob, from Zoë.</p><p><a href="{LINK}">Accept</a></p>',
        "message_id": "<0123abcd@acme.com>",
    }
    return Message(**{**fields, **changes})


def smtp_settings(port: int, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_timeout_seconds": 2,
        "mail_from": "Équipe teamgate <teamgate@acme.com>",
    }
    return Settings(**{**values, **changes})


async def refusal(settings: Settings, sent: Message | None = None) -> DeliveryError:
    with pytest.raises(DeliveryError) as raised:
        await transport_for(settings).send(sent or message())
    return raised.value


async def test_smtp_delivers_both_parts_with_the_right_headers(smtp: SmtpServer) -> None:
    transport = transport_for(smtp_settings(smtp.port))
    assert isinstance(transport, SmtpTransport)

    await transport.send(message())

    [received] = await smtp.received(1)
    assert received["From"] == "Équipe teamgate <teamgate@acme.com>"
    assert received["To"] == "bob@acme.com"
    assert received["Subject"] == "Zoë Ørsted invited you to Café Ünïcode on teamgate"
    assert received["Message-ID"] == "<0123abcd@acme.com>"
    assert received["Date"] is not None
    assert received.get_content_type() == "multipart/alternative"
    text, html = received.iter_parts()
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
    # On the wire every line ends in CRLF, in the parts too.
    assert text.get_content() == f"Hello Bob, from Zoë.\r\n\r\n{LINK}\r\n"
    assert (
        html.get_content() == f'<p>Hello Bob, from Zoë.</p><p><a href="{LINK}">Accept</a></p>\r\n'
    )
    assert smtp.envelopes[0].mail_from == "teamgate@acme.com"
    assert smtp.envelopes[0].rcpt_tos == ("bob@acme.com",)


async def test_a_recipient_refused_with_550_is_permanent(smtp: SmtpServer) -> None:
    smtp.refuse("bob@acme.com")

    error = await refusal(smtp_settings(smtp.port))

    assert error.permanent
    assert error.reason == "SMTP server refused the recipient: 550 5.1.1 No such user"
    assert smtp.messages == []


async def test_a_451_is_worth_retrying(smtp: SmtpServer) -> None:
    smtp.refuse("bob@acme.com", *TRY_AGAIN_LATER)

    error = await refusal(smtp_settings(smtp.port))

    assert not error.permanent
    assert "451 4.3.0 Try again later" in error.reason
    smtp.allow("bob@acme.com")
    await transport_for(smtp_settings(smtp.port)).send(message())
    assert len(await smtp.received(1)) == 1


async def test_a_stopped_server_is_worth_retrying_and_fails_fast(smtp: SmtpServer) -> None:
    smtp.stop()
    started = time.monotonic()

    error = await refusal(smtp_settings(smtp.port))

    assert time.monotonic() - started < 1.5
    assert not error.permanent
    assert error.reason == f"Cannot reach the SMTP server 127.0.0.1:{smtp.port}: Connection refused"
    smtp.start()  # the same port again: a retry now succeeds
    await transport_for(smtp_settings(smtp.port)).send(message())
    assert len(await smtp.received(1)) == 1


async def test_a_server_that_never_answers_times_out_as_configured() -> None:
    with silent_server() as port:
        started = time.monotonic()

        error = await refusal(smtp_settings(port, smtp_timeout_seconds=0.3))

        assert time.monotonic() - started < 1.5
    assert not error.permanent
    assert error.reason == f"Timed out talking to the SMTP server 127.0.0.1:{port} (after 0.3 s)"


async def test_login_with_the_configured_user_and_password() -> None:
    with smtp_server(credentials=("mailer", "s3cret pass")) as smtp:
        settings = smtp_settings(smtp.port, smtp_username="mailer", smtp_password="s3cret pass")

        await transport_for(settings).send(message())

        assert len(await smtp.received(1)) == 1
        assert smtp.logins == [("mailer", True)]


async def test_a_wrong_password_is_an_error_that_never_shows_the_password() -> None:
    with smtp_server(credentials=("mailer", "s3cret pass")) as smtp:
        settings = smtp_settings(smtp.port, smtp_username="mailer", smtp_password="wrong-pass")

        error = await refusal(settings)

        assert error.reason.startswith("SMTP login refused: 535")
        assert not error.permanent  # the configuration is wrong, not the message
        assert "wrong-pass" not in error.reason
        assert "wrong-pass" not in repr(transport_for(settings))
        assert smtp.logins  # aiosmtplib tries each mechanism the server offers
        assert all(login == ("mailer", False) for login in smtp.logins)
        assert smtp.messages == []


async def test_a_server_that_wants_a_login_refuses_one_without() -> None:
    with smtp_server(credentials=("mailer", "s3cret pass")) as smtp:
        error = await refusal(smtp_settings(smtp.port))

    assert error.permanent
    assert error.reason == "SMTP server answered 530 5.7.0 Authentication required"


async def test_starttls_required_but_not_offered_is_worth_retrying(smtp: SmtpServer) -> None:
    error = await refusal(smtp_settings(smtp.port, smtp_security="starttls"))

    assert not error.permanent
    assert error.reason == (
        f"Cannot use the SMTP server 127.0.0.1:{smtp.port}: "
        "SMTP STARTTLS extension not supported by server."
    )
    assert smtp.messages == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_an_untrusted_certificate_is_refused_and_worth_retrying(security: str) -> None:
    with smtp_server(tls="tls" if security == "tls" else "starttls") as smtp:
        error = await refusal(smtp_settings(smtp.port, smtp_security=security))

        assert not error.permanent
        assert error.reason == (
            f"TLS failed with the SMTP server 127.0.0.1:{smtp.port}: "
            "CERTIFICATE_VERIFY_FAILED (self-signed certificate)"
        )
        assert smtp.messages == []


async def test_implicit_tls_against_a_plain_server_is_worth_retrying(smtp: SmtpServer) -> None:
    error = await refusal(smtp_settings(smtp.port, smtp_security="tls"))

    assert not error.permanent
    assert error.reason.startswith(f"TLS failed with the SMTP server 127.0.0.1:{smtp.port}: ")
    assert smtp.messages == []


@pytest.mark.parametrize(
    "bad",
    [
        message(to="bob@acme.com\r\nBcc: eve@evil.com"),
        message(to="a@b.co, c@d.co"),
        message(subject="Hello\r\nBcc: eve@evil.com"),
    ],
    ids=["to", "two recipients", "subject"],
)
async def test_a_message_that_cannot_be_written_is_refused_before_sending(
    smtp: SmtpServer, bad: Message
) -> None:
    error = await refusal(smtp_settings(smtp.port), bad)

    assert error.permanent
    assert error.reason in ("Invalid recipient address", "Invalid message header")
    assert smtp.messages == []


def test_a_reason_is_one_short_line() -> None:
    error = DeliveryError("550 first line\r\n550 second line " + "x" * 400, permanent=True)

    assert error.reason.startswith("550 first line 550 second line xxx")
    assert len(error.reason) == 300
    assert error.reason.endswith("…")
    assert str(error) == error.reason
    assert DeliveryError("", permanent=False).reason == "unknown error"


@pytest.mark.parametrize("host", ["a..b", "x" * 64 + ".com", "smtp example.com", " smtp.acme.com"])
def test_a_host_name_that_cannot_be_looked_up_is_refused_at_start(host: str) -> None:
    with pytest.raises(ValueError, match="smtp_host"):
        Settings(smtp_host=host)


def test_the_port_follows_the_security_unless_configured() -> None:
    ports = [Settings(smtp_security=s).smtp_port_resolved for s in ("none", "starttls", "tls")]

    assert ports == [25, 587, 465]
    assert Settings(smtp_security="tls", smtp_port=2465).smtp_port_resolved == 2465


# --- the file transport -----------------------------------------------------------------------


async def test_without_smtp_each_message_is_a_private_eml_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path, smtp_host=None, mail_from="teamgate <tg@acme.com>")
    transport = transport_for(settings)
    assert isinstance(transport, FileTransport)

    with caplog.at_level(logging.INFO, logger="teamgate"):
        first = await transport.write(message())
        await transport.send(message(to="carol@acme.com"))

    files = sorted((tmp_path / "mail").iterdir())
    assert [p.suffix for p in files] == [".eml", ".eml"]  # no temporary file left
    assert files[0] == first
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    parsed = BytesParser(policy=default).parsebytes(first.read_bytes())
    assert (parsed["From"], parsed["To"], parsed["Message-ID"]) == (
        "teamgate <tg@acme.com>", "bob@acme.com", "<0123abcd@acme.com>",
    )  # fmt: skip
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(("plain",))
    assert body is not None
    assert LINK in body.get_content()
    assert BytesParser(policy=default).parsebytes(files[1].read_bytes())["To"] == "carol@acme.com"
    logged = [record.getMessage() for record in caplog.records]
    assert logged[0] == f"Email to bob@acme.com written to {first}"
    assert all("secret-code-123" not in line for line in logged)


async def test_file_names_sort_by_time(tmp_path: Path) -> None:
    transport = FileTransport(tmp_path)

    paths = [await transport.write(message(subject=f"number {n}")) for n in range(5)]

    assert sorted(paths) == paths
    assert len(set(paths)) == 5


async def test_a_folder_that_cannot_be_written_is_worth_retrying(tmp_path: Path) -> None:
    (tmp_path / "mail").write_text("a file where the folder should be")

    with pytest.raises(DeliveryError) as raised:
        await FileTransport(tmp_path / "mail").send(message())

    assert not raised.value.permanent
    assert raised.value.reason.startswith(f"Cannot write the email to {tmp_path / 'mail'}: ")
    assert "secret-code-123" not in raised.value.reason
