"""`teamgate mail test`: one message through the configured transport, and what happened."""

from __future__ import annotations

import stat
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import pytest
from typer.testing import Result

from tests.support.cli import refused, teamgate_in_process
from tests.support.smtp import TRY_AGAIN_LATER, SmtpServer


def smtp_env(smtp: SmtpServer) -> dict[str, str]:
    return {
        "TEAMGATE_SMTP_HOST": "127.0.0.1",
        "TEAMGATE_SMTP_PORT": str(smtp.port),
        "TEAMGATE_SMTP_SECURITY": "none",
        "TEAMGATE_SMTP_TIMEOUT_SECONDS": "2",
        "TEAMGATE_MAIL_FROM": "Acme teamgate <teamgate@acme.com>",
    }


async def mail_test(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    # No database is needed: the URL only keeps the runner off the developer's own.
    database_url = f"sqlite:///{tmp_path / 'unused.db'}"
    return await teamgate_in_process(database_url, tmp_path, "mail", "test", *args, env=env)


async def test_a_test_message_goes_through_smtp(tmp_path: Path, smtp: SmtpServer) -> None:
    result = await mail_test(tmp_path, "--to", " Bob@ACME.com ", env=smtp_env(smtp))

    assert result.exit_code == 0, (result.stderr, result.exception)
    assert result.stderr == f"Sent to bob@acme.com through 127.0.0.1:{smtp.port} (none).\n"
    assert result.stdout == ""
    [received] = await smtp.received(1)
    assert received["To"] == "bob@acme.com"
    assert received["From"] == "Acme teamgate <teamgate@acme.com>"
    assert received["Subject"] == "teamgate test message"
    assert str(received["Message-ID"]).endswith("@acme.com>")
    body = received.get_body(("plain",))
    assert body is not None
    assert "If you can read it, teamgate can send email to bob@acme.com." in body.get_content()
    assert not (tmp_path / "mail").exists()


async def test_without_smtp_the_message_is_written_to_a_file(tmp_path: Path) -> None:
    result = await mail_test(tmp_path, "--to", "bob@acme.com", env={"TEAMGATE_SMTP_HOST": ""})

    assert result.exit_code == 0, (result.stderr, result.exception)
    [path] = (tmp_path / "mail").iterdir()
    assert result.stderr == f"Written to {path}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    parsed = BytesParser(policy=default).parsebytes(path.read_bytes())
    assert (parsed["To"], parsed["Subject"]) == ("bob@acme.com", "teamgate test message")


async def test_a_refused_recipient_is_exit_1_and_permanent(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    smtp.refuse("nobody@acme.com")

    result = await mail_test(tmp_path, "--to", "nobody@acme.com", env=smtp_env(smtp))

    assert result.exit_code == 1
    assert result.stderr == (
        "Not sent (permanent: the server refused it): "
        "SMTP server refused the recipient: 550 5.1.1 No such user\n"
    )
    assert smtp.messages == []


async def test_a_temporary_failure_is_exit_1_and_says_so(tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.refuse("bob@acme.com", *TRY_AGAIN_LATER)

    result = await mail_test(tmp_path, "--to", "bob@acme.com", env=smtp_env(smtp))

    assert result.exit_code == 1
    assert result.stderr.startswith("Not sent (temporary: it would be retried): ")
    assert "451 4.3.0 Try again later" in result.stderr


async def test_an_unreachable_server_is_exit_1(tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.stop()

    result = await mail_test(tmp_path, "--to", "bob@acme.com", env=smtp_env(smtp))

    assert result.exit_code == 1
    assert result.stderr == (
        "Not sent (temporary: it would be retried): "
        f"Cannot reach the SMTP server 127.0.0.1:{smtp.port}: Connection refused\n"
    )


@pytest.mark.parametrize("address", ["not-an-address", "bob@acme.com\r\nBcc: eve@evil.com", ""])
async def test_an_invalid_address_is_exit_2(tmp_path: Path, address: str) -> None:
    result = await mail_test(tmp_path, "--to", address)

    refused(result, "Invalid email")
    assert not (tmp_path / "mail").exists()


async def test_invalid_mail_settings_are_exit_2(tmp_path: Path) -> None:
    result = await mail_test(
        tmp_path, "--to", "bob@acme.com", env={"TEAMGATE_MAIL_FROM": "a@b.co, c@d.co"}
    )

    assert result.exit_code == 2
    assert result.stderr.startswith("Invalid settings: TEAMGATE_MAIL_FROM: ")
    assert not (tmp_path / "mail").exists()
