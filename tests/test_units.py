"""Pure functions: email canonical form and domain rules, names, client address, roles."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from teamgate.emails import InvalidEmail, canonical_email, domain_allowed
from teamgate.errors import AppError
from teamgate.http import client_address
from teamgate.roles import Role, role_input
from teamgate.text import display_name


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


def test_display_name() -> None:
    assert display_name("  Ada  ", "name") == "Ada"
    for bad in (None, 3, "", "   ", "a" * 201, "Ada\x00", "Ada\nLovelace", "\ud800"):
        with pytest.raises(AppError):
            display_name(bad, "name")


def _request(peer: str, forwarded: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


def test_forwarded_for_is_ignored_without_a_trusted_proxy() -> None:
    assert client_address(_request("203.0.113.9", "1.2.3.4"), []) == "203.0.113.9"


def test_forwarded_for_is_read_behind_a_trusted_proxy() -> None:
    proxies = ["10.0.0.1", "10.0.0.2"]
    assert client_address(_request("10.0.0.1", "1.2.3.4, 10.0.0.2"), proxies) == "1.2.3.4"
    # A client-forged hop to the left of the real one is not believed.
    assert client_address(_request("10.0.0.1", "6.6.6.6, 1.2.3.4"), proxies) == "1.2.3.4"
    assert client_address(_request("10.0.0.1", "not-an-ip"), proxies) == "10.0.0.1"


def test_roles() -> None:
    assert role_input("guest") == "VIEWER"
    assert role_input(" member ") == "MEMBER"
    assert role_input("CUSTOM_ROLE-1") == "CUSTOM_ROLE-1"
    assert role_input("bad role!") is None
    assert role_input(5) is None
    assert Role.ADMIN.can_assign(Role.VIEWER)
    assert not Role.DEVELOPER.can_assign(Role.MEMBER)
    assert Role.VIEWER.can_assign(Role.VIEWER)
