"""The emails teamgate sends, rendered from the Jinja2 templates beside this module: an HTML
part (autoescaped) and a plain-text part, with a one-line subject."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from teamgate.config import mail_address
from teamgate.mail.message import Message, one_line

if TYPE_CHECKING:
    from teamgate.config import Settings

TEMPLATES = Path(__file__).parent / "templates"
# The inviter named when the operator sent the invitation (`teamgate invite`): nobody in the
# account, but one who acts as an ADMIN of it.
OPERATOR_INVITER = "An administrator"
FALLBACK_DOMAIN = "teamgate.invalid"
TEST_SUBJECT = "teamgate test message"
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
MAX_SUBJECT = 200
MAX_VALUE = 200  # a name, account or role as shown; the inputs already keep them shorter
# RFC 5322's dot-atom-text: what may stand on each side of the @ of a Message-ID.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")

# HTML is escaped everywhere; plain text nowhere (it is not markup). Undefined is an error.
_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class InvitationEmail:
    """What an invitation's email says. ``inviter_name`` None: the operator sent it."""

    to: str
    inviter_name: str | None
    account_name: str
    role: str
    expires_at: int  # epoch seconds
    link: str


def invitation(settings: Settings, email: InvitationEmail, message_id: str) -> Message:
    """The invitation's email: who invites the person, to which account, with which role, until
    when, and the link (which works once)."""
    inviter = _shown(email.inviter_name) if email.inviter_name else OPERATOR_INVITER
    account = _shown(email.account_name)
    values = {
        "inviter": inviter,
        "account": account,
        "role": _shown(email.role),
        "expires": readable_time(email.expires_at),
        "link": email.link,
        "to": email.to,
    }
    subject = subject_line(settings.mail_invitation_subject, account=account, inviter=inviter)
    return _message(email.to, subject, "invitation", values, message_id)


RESET_SUBJECT = "Set your teamgate password"


@dataclass(frozen=True, slots=True)
class InvitationRequestEmail:
    to: str  # an ADMIN of the account
    requester: str  # the address whose invitation link no longer works
    account_name: str
    team_link: str


def invitation_request(
    settings: Settings, email: InvitationRequestEmail, message_id: str
) -> Message:
    """To an account's ADMIN: someone whose invitation link no longer works asks for a new one."""
    values = {
        "requester": _shown(email.requester),
        "account": _shown(email.account_name),
        "team_link": email.team_link,
    }
    subject = subject_line("{requester} asks for a new invitation to {account}", **values)
    return _message(email.to, subject, "invitation_request", values, message_id)


@dataclass(frozen=True, slots=True)
class PasswordResetEmail:
    to: str
    expires_at: int  # epoch seconds
    link: str


def password_reset(settings: Settings, email: PasswordResetEmail, message_id: str) -> Message:
    """The link to set or reset a password: it works once, for an hour."""
    values = {"to": email.to, "link": email.link, "expires": readable_time(email.expires_at)}
    return _message(email.to, RESET_SUBJECT, "password_reset", values, message_id)


def mail_test_message(settings: Settings, to: str, message_id: str, *, at: int) -> Message:
    """The message `teamgate mail test` sends: it says where it came from, and nothing else."""
    values = {"origin": settings.public_origins[0], "sent": readable_time(at), "to": to}
    return _message(to, TEST_SUBJECT, "test", values, message_id)


def _message(
    to: str, subject: str, template: str, values: dict[str, str], message_id: str
) -> Message:
    """A message from the template pair ``<template>.txt`` and ``<template>.html``."""
    text = _environment.get_template(f"{template}.txt").render(values, subject=subject)
    html = _environment.get_template(f"{template}.html").render(values, subject=subject)
    return Message(to=to, subject=subject, text=text, html=html, message_id=message_id)


def subject_line(template: str, **values: str) -> str:
    """The subject template filled in, on one line: a line break in a value (a name) can never
    start another header."""
    return one_line(
        template.format(**{k: one_line(v, MAX_VALUE) for k, v in values.items()}), MAX_SUBJECT
    )


def readable_time(epoch_seconds: int) -> str:
    """A moment as people read it, in UTC: ``Monday 7 December 2026, 14:05 UTC`` (in English
    whatever the process's locale)."""
    at = datetime.fromtimestamp(epoch_seconds, UTC)
    day, month = DAYS[at.weekday()], MONTHS[at.month - 1]
    return f"{day} {at.day} {month} {at.year}, {at:%H:%M} UTC"


def message_id(settings: Settings, key: str) -> str:
    """``<key@domain>``, the domain being the sender's (``teamgate.invalid`` when it cannot
    stand in a Message-ID). ``key`` is the caller's opaque, unique id of the message (hex)."""
    if not _DOT_ATOM.fullmatch(key):
        raise ValueError("a Message-ID key is dot-atom text: letters, digits, dots, - and _")
    try:
        domain = mail_address(settings.mail_from).domain
    except ValueError:
        domain = FALLBACK_DOMAIN
    return f"<{key}@{domain if _DOT_ATOM.fullmatch(domain) else FALLBACK_DOMAIN}>"


def _shown(value: str) -> str:
    """A value from a person (a name) as an email shows it: on one line, of bounded length."""
    return one_line(value, MAX_VALUE)
