"""Email addresses: the canonical form, what is refused, and exact domain rules."""

from __future__ import annotations

import pytest

from teamgate.emails import InvalidEmail, canonical_email, domain_allowed


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Bob@Acme.COM", "bob@acme.com"),
        ("  bob@acme.com\t", "bob@acme.com"),
        ("bob+tag@acme.com", "bob+tag@acme.com"),
        ("bob@bücher.de", "bob@xn--bcher-kva.de"),
    ],
)
def test_canonical_email(raw: str, canonical: str) -> None:
    assert canonical_email(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        None, 42, ["a@b.com"], "", "plain", "a@b", "bob@acme.com\r\nBcc: x@y.com", "bob\n@acme.com",
        "jürgen@acme.com", '"quoted"@acme.com', "bob@[127.0.0.1]", "Bob <bob@acme.com>",
        "a" * 300 + "@acme.com", "bob@localhost", "bob@acme.com\x00",
    ],
)  # fmt: skip
def test_invalid_emails_are_refused(raw: object) -> None:
    with pytest.raises(InvalidEmail):
        canonical_email(raw)


@pytest.mark.parametrize(
    ("domain", "allowed", "ok"),
    [
        ("acme.com", ["acme.com"], True),
        ("evil-acme.com", ["acme.com"], False),
        ("sub.acme.com", ["acme.com"], False),
        ("acme.com.evil.org", ["acme.com"], False),
        ("sub.acme.com", ["*.acme.com"], True),
        ("evilacme.com", ["*.acme.com"], False),
        ("acme.com", ["*.acme.com"], False),
        ("anything.org", [], True),
        ("other.org", ["acme.com", "other.org"], True),
    ],
)
def test_domain_matching_is_exact(domain: str, allowed: list[str], ok: bool) -> None:
    assert domain_allowed(domain, allowed) is ok
