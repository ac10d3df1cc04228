"""The invitation email: what it says, escaped where it is HTML, with a one-line subject."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from teamgate.config import Settings
from teamgate.mail import render
from teamgate.mail.render import InvitationEmail, invitation, message_id

LINK = "http://testserver/signup?signupInvitationCode=abc.def-ghi&signupEmailId=bob%40acme.com"
EXPIRES = int(datetime(2026, 12, 7, 14, 5, tzinfo=UTC).timestamp())


def email(**changes: object) -> InvitationEmail:
    fields: dict[str, object] = {
        "to": "bob@acme.com",
        "inviter_name": "Ada Admin",
        "account_name": "Acme",
        "role": "DEVELOPER",
        "expires_at": EXPIRES,
        "link": LINK,
    }
    return InvitationEmail(**{**fields, **changes})  # type: ignore[arg-type]


def visible_text(html: str) -> str:
    """The HTML as a reader sees it: tags dropped, entities left as they are."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_both_parts_say_who_invites_whom_to_what_until_when() -> None:
    sent = invitation(Settings(), email(), "<k1@localhost>")

    assert sent.to == "bob@acme.com"
    assert sent.message_id == "<k1@localhost>"
    assert sent.subject == "Ada Admin invited you to Acme on teamgate"
    assert "Ada Admin invited you to join Acme on teamgate, as DEVELOPER." in sent.text
    assert "\n" + LINK + "\n" in sent.text  # the link on a line of its own
    assert "The link works once, and until Monday 7 December 2026, 14:05 UTC." in sent.text
    shown = visible_text(sent.html)
    assert "Ada Admin invited you to join Acme on teamgate, as DEVELOPER ." in shown
    assert "The link works once, and until Monday 7 December 2026, 14:05 UTC ." in shown
    html_link = LINK.replace("&", "&amp;")
    assert f'<a href="{html_link}"' in sent.html  # the button
    assert f">{html_link}</a>" in sent.html  # and the link to copy


def test_the_html_loads_nothing_from_elsewhere() -> None:
    html = invitation(Settings(), email(), "<k1@localhost>").html

    assert "<img" not in html
    assert "<link" not in html
    assert "<script" not in html
    assert "<style" not in html  # inline styles only: many mail readers drop style sheets
    assert "@import" not in html
    assert "url(" not in html
    assert re.findall(r'(?:src|href)="([^"]*)"', html) == [LINK.replace("&", "&amp;")] * 2


def test_every_value_from_a_person_is_escaped_in_html() -> None:
    hostile = email(
        inviter_name='<script>alert("x")</script> Eve',
        account_name="Acme & <b>Co</b>",
        role="<i>OWNER</i>",
    )

    sent = invitation(Settings(), hostile, "<k1@localhost>")

    assert "<script>" not in sent.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Eve" in sent.html
    assert "Acme &amp; &lt;b&gt;Co&lt;/b&gt;" in sent.html
    assert "&lt;i&gt;OWNER&lt;/i&gt;" in sent.html
    assert "<b>" not in sent.html
    assert "<i>" not in sent.html
    # Plain text is not markup: it shows the names as they are.
    assert '<script>alert("x")</script> Eve invited you to join Acme & <b>Co</b>' in sent.text


def test_an_invitation_from_the_operator_names_an_administrator() -> None:
    sent = invitation(Settings(), email(inviter_name=None), "<k1@localhost>")

    assert sent.subject == "An administrator invited you to Acme on teamgate"
    assert sent.text.startswith("An administrator invited you to join Acme on teamgate")


def test_the_subject_follows_the_configured_template() -> None:
    settings = Settings(mail_invitation_subject="[{account}] an invitation from {inviter}")

    sent = invitation(settings, email(), "<k1@localhost>")

    assert sent.subject == "[Acme] an invitation from Ada Admin"


def test_a_placeholder_in_a_name_is_shown_not_filled_in() -> None:
    sent = invitation(Settings(), email(account_name="{inviter} {0} {account.__class__}"), "<k>")

    assert sent.subject == "Ada Admin invited you to {inviter} {0} {account.__class__} on teamgate"


@pytest.mark.parametrize(
    "account_name", ["Acme\r\nBcc: eve@evil.com", "Acme\nX-Injected: 1", "Acme\u2028\x85\x00Co"]
)
def test_no_value_can_break_the_subject_onto_another_line(account_name: str) -> None:
    sent = invitation(Settings(), email(account_name=account_name, inviter_name="A\rB"), "<k>")

    assert sent.subject.isprintable()
    assert "\r" not in sent.subject
    assert "\n" not in sent.subject
    assert sent.subject.startswith("A B invited you to Acme ")


def test_a_long_subject_is_cut() -> None:
    sent = invitation(Settings(), email(account_name="A" * 400), "<k>")

    assert len(sent.subject) == render.MAX_SUBJECT
    assert sent.subject.endswith("…")


@pytest.mark.parametrize(
    "template",
    ["{account} {owner}", "{0}", "{}", "{account.upper}", "{account[0]}", "{account", "a\nb"],
)
def test_a_subject_template_with_other_placeholders_is_refused(template: str) -> None:
    with pytest.raises(ValueError, match="mail_invitation_subject"):
        Settings(mail_invitation_subject=template)


def test_message_ids_use_the_senders_domain() -> None:
    assert message_id(Settings(mail_from="Acme <noreply@mail.acme.com>"), "a1b2") == (
        "<a1b2@mail.acme.com>"
    )
    assert message_id(Settings(), "a1b2") == "<a1b2@localhost>"


@pytest.mark.parametrize("key", ["", "a b", "a@b", "<a>", "a\r\nb"])
def test_a_message_id_key_must_be_an_atom(key: str) -> None:
    with pytest.raises(ValueError, match="Message-ID"):
        message_id(Settings(), key)


@pytest.mark.parametrize(
    "mail_from",
    ["teamgate", "a@b.co, c@d.co", "x <a@b.co>\r\nBcc: e@f.g", "é@acme.com", "a@[1.2.3.4]"],
)
def test_the_sender_must_be_one_plain_address(mail_from: str) -> None:
    with pytest.raises(ValueError, match="mail_from"):
        Settings(mail_from=mail_from)


@pytest.mark.parametrize(
    "mail_from",
    [
        "teamgate@acme.com",
        "<teamgate@acme.com>",
        '"Acme, Inc." <tg@acme.com>',
        "Équipe <tg@acme.com>",
    ],
)
def test_a_sender_may_have_a_display_name(mail_from: str) -> None:
    assert Settings(mail_from=mail_from).mail_from == mail_from
