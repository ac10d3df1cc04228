"""One email, as the templates made it, and the one error a transport raises."""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from teamgate.config import mail_address

MAX_REASON = 300


@dataclass(frozen=True, slots=True)
class Message:
    """An email to one person: both bodies, and a Message-ID (``<opaque@domain>``) the caller
    keeps the same for every attempt, so that a receiver can tell a retry from a new email."""

    to: str
    subject: str
    text: str
    html: str
    message_id: str


class DeliveryError(Exception):
    """A message was not delivered. ``permanent``: trying again cannot help (the server refused
    it with a 5xx); otherwise a later attempt may succeed. ``reason`` is one short line, safe to
    show and store: it never holds the body, the link or a password."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        self.reason = one_line(reason, MAX_REASON) or "unknown error"
        self.permanent = permanent
        super().__init__(self.reason)


def one_line(text: str, limit: int) -> str:
    """``text`` with every run of whitespace or control characters made one space, cut to
    ``limit`` characters (an ellipsis marks the cut)."""
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def mime(message: Message, mail_from: str, *, at: datetime | None = None) -> EmailMessage:
    """The message as it goes on the wire: plain text first and HTML second (a reader shows the
    last part it can), UTF-8, with ``From`` the configured sender. Raises ValueError when a
    header cannot be written (an address or subject with a line break in it)."""
    built = EmailMessage(policy=email.policy.SMTP)
    built["From"] = mail_from
    built["To"] = message.to
    built["Subject"] = message.subject
    built["Date"] = format_datetime(at or datetime.now(UTC))
    built["Message-ID"] = message.message_id
    built.set_content(message.text, subtype="plain", charset="utf-8")
    built.add_alternative(message.html, subtype="html", charset="utf-8")
    return built


def sender_address(mail_from: str) -> str:
    """The address part of the configured ``From`` (the SMTP envelope's sender)."""
    return mail_address(mail_from).addr_spec
