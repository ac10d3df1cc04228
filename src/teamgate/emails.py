"""Email addresses in one canonical form: validated, ASCII, lower-cased."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
        "yahoo.com", "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me",
        "protonmail.com", "gmx.com", "gmx.net", "gmx.de", "web.de", "mail.com", "yandex.com",
        "yandex.ru", "mail.ru", "zoho.com", "qq.com", "163.com", "126.com", "fastmail.com",
        "hey.com", "tutanota.com", "pm.me",
    }
)  # fmt: skip


class InvalidEmail(ValueError):
    pass


def canonical_email(value: object) -> str:
    """The one form teamgate stores and compares; raises InvalidEmail for anything else."""
    if not isinstance(value, str):
        raise InvalidEmail("not a string")
    candidate = unicodedata.normalize("NFC", value.strip())
    if not candidate or len(candidate) > 320 or any(c in candidate for c in "\r\n\0"):
        raise InvalidEmail("empty, too long or with control characters")
    try:
        result = validate_email(
            candidate,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from exc
    return (result.ascii_email or result.normalized).lower()


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[1]


def domain_allowed(domain: str, allowed: list[str]) -> bool:
    """Exact match, or a subdomain where an admin configured ``*.example.com``; empty allows all."""
    if not allowed:
        return True
    for entry in allowed:
        if entry.startswith("*."):
            if domain.endswith("." + entry[2:]) and domain != entry[2:]:
                return True
        elif domain == entry:
            return True
    return False
