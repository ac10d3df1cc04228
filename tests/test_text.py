"""Names (users, invitees, accounts, API keys) are visible, printable text: no control, format,
direction or invisible characters, and at least one visible character."""

from __future__ import annotations

import unicodedata
from http.cookies import SimpleCookie

import httpx
import pytest

from teamgate.context import AppContext
from teamgate.errors import AppError
from teamgate.text import display_name
from tests.conftest import make_account
from tests.support import PASSWORD
from tests.support.api import call, error_of
from tests.support.state import snapshot

PERSIAN_NAME = "علی\u200cرضا"  # noqa: RUF001 - Arabic letters that look Latin are the point
GOOD_NAMES = [
    "Ada Lovelace",
    "José",
    "Jose\u0301",  # the same name, decomposed: NFC composes it
    "李小龙",
    "Zoë",
    "O'Brien-Smith",
    "김민준",
    "👩\u200d💻 Dev",  # an emoji ZWJ sequence
    "👩🏽\u200d💻",  # with a skin tone
    "🏳\ufe0f\u200d🌈",  # variation selector, then ZWJ
    "❤\ufe0f",
    "1\ufe0f\u20e3",  # keycap
    "محمد عبد الله",  # Arabic
    PERSIAN_NAME,  # ZWNJ between letters
    "דוד בן-גוריון",  # Hebrew
    "अनुष्का शर्मा",  # Devanagari, vowel signs and a virama
    "क्\u200dष",  # Devanagari, virama + ZWJ
    "ශ්\u200dරී",  # Sinhala, virama + ZWJ
    "അവന്\u200d",  # Malayalam, an old-style chillu (virama + ZWJ) at the end
    "สมชาย",  # Thai, combining marks
    "Ada\u00a0Lovelace",  # a no-break space inside
]
INVISIBLE_NAMES = [
    "Ada\u202eLovelace",  # RIGHT-TO-LEFT OVERRIDE
    "Ada\u2066x\u2069",  # bidi isolates
    "Ada\u200eLovelace",  # LEFT-TO-RIGHT MARK
    "Ada\u200bLovelace",  # ZERO WIDTH SPACE
    "Ada\u2060Lovelace",  # WORD JOINER
    "Ada\u00adLovelace",  # SOFT HYPHEN
    "Ada\u2028Lovelace",  # LINE SEPARATOR
    "Ada\u2029Lovelace",  # PARAGRAPH SEPARATOR
    "\ufeff",  # only a BOM
    "Ada\ufeff",
    "\u0301\u0301",  # only combining marks
    "\u20e3",  # only an enclosing mark
    "\u3164",  # HANGUL FILLER
    "\u115f",
    "\u1160",
    "\uffa0",
    "\u2800",  # BRAILLE PATTERN BLANK
    "Ada\u3164",
    "A\u034fda",  # COMBINING GRAPHEME JOINER
    "\u200d",
    "\u200c",
    "A\u200dda",  # ZWJ between Latin letters: no joining behaviour, only a look-alike
    "A\u200cda",
    "Ada\u200d",
    "\u200d👩",
    "👩\u200d",
    "👩\u200d\u200d💻",
    "Ada\x00",
    "Ada\nLovelace",
    "Ada\x7f",
    "Ada\x85B",  # NEXT LINE (C1 control)
    "\ud800",  # a lone surrogate
    "Ada\ue000",  # private use
    "Ada\U000f0000",
    "Ada\u0378",  # unassigned
    "Ada\U000e0041\U000e0042",  # tag characters: text that is never shown
    "a\ufe0f\ufe0f\ufe0f",  # a run of variation selectors carries hidden bytes
    "Ada\U000e0100\U000e0101",
]


def visible_text_error(what: str) -> str:
    return f"{what} must be visible text, without control or invisible characters"


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_ordinary_names_pass(name: str) -> None:
    assert display_name(f"  {name} ", "name") == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize("name", INVISIBLE_NAMES)
def test_invisible_and_control_characters_are_refused(name: str) -> None:
    with pytest.raises(AppError) as refused:
        display_name(name, "inviteeName")
    assert refused.value.status == 400
    assert refused.value.message == visible_text_error("inviteeName")


@pytest.mark.parametrize("value", [None, 3, ["Ada"], "", "   ", "a" * 101, "é" * 101])
def test_wrong_types_and_lengths_keep_their_message(value: object) -> None:
    with pytest.raises(AppError) as refused:
        display_name(value, "name", max_len=100)
    assert refused.value.message == "name must be a string of 1 to 100 characters"


def test_length_counts_composed_characters() -> None:
    assert display_name("e\u0301" * 100, "name", max_len=100) == "é" * 100


def test_display_name() -> None:
    assert display_name("  Ada  ", "name") == "Ada"
    for bad in (None, 3, "", "   ", "a" * 201, "Ada\x00", "Ada\nLovelace", "\ud800"):
        with pytest.raises(AppError):
            display_name(bad, "name")


# --- through the API -------------------------------------------------------------------------


BAD_FOR_HTTP = ["Ada\u202eLovelace", "\u200b", "\ufeff", "\u0301\u0301", "\u3164"]


@pytest.mark.parametrize("bad", BAD_FOR_HTTP)
async def test_invite_with_an_invisible_name_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, ctx: AppContext, bad: str
) -> None:
    admin = await make_account(ctx, password=None)
    before = await snapshot(ctx)

    response = await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "bob@acme.com", "inviteeRole": "MEMBER", "inviteeName": bad},
        key=admin.api_key,
    )

    assert response.status_code == 400, response.text
    assert error_of(response) == visible_text_error("inviteeName")
    assert await snapshot(ctx) == before


async def test_invite_and_accept_with_ordinary_names(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    invited = await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "dev@acme.com", "inviteeRole": "MEMBER", "inviteeName": "👩\u200d💻 Dev"},
        key=admin.api_key,
    )
    assert invited.status_code == 200, invited.text
    team = await call(client, "getTeamData", key=admin.api_key)
    assert team.json()[-1]["name"] == "👩\u200d💻 Dev"

    code = invited.json()["finalInviteCode"]
    accepted = await call(
        client, "acceptInvite", {"inviteCode": code, "name": PERSIAN_NAME, "password": PASSWORD}
    )
    assert accepted.status_code == 200, accepted.text
    client.cookies.clear()
    team = await call(client, "getTeamData", key=admin.api_key)
    assert [(e["login"], e["name"]) for e in team.json()] == [
        ("admin@acme.com", "Ada Admin"),
        ("dev@acme.com", PERSIAN_NAME),
    ]


@pytest.mark.parametrize("bad", BAD_FOR_HTTP)
async def test_accepting_with_an_invisible_name_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, ctx: AppContext, bad: str
) -> None:
    admin = await make_account(ctx, password=None)
    invited = await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "bob@acme.com", "inviteeRole": "MEMBER"},
        key=admin.api_key,
    )
    assert invited.status_code == 200, invited.text
    code = invited.json()["finalInviteCode"]
    before = await snapshot(ctx)

    response = await call(
        client, "acceptInvite", {"inviteCode": code, "name": bad, "password": PASSWORD}
    )

    assert response.status_code == 400, response.text
    assert error_of(response) == visible_text_error("name")
    assert "set-cookie" not in response.headers
    assert await snapshot(ctx) == before
    # The code was not spent: the same link still works with a visible name.
    retry = await call(
        client, "acceptInvite", {"inviteCode": code, "name": "Bob", "password": PASSWORD}
    )
    assert retry.status_code == 200, retry.text


def _session_cookie(response: httpx.Response) -> str:
    jar: SimpleCookie = SimpleCookie()
    jar.load(response.headers["set-cookie"])
    return f"teamgate_session={jar['teamgate_session'].value}"


@pytest.mark.parametrize("bad", BAD_FOR_HTTP)
async def test_api_key_with_an_invisible_name_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, ctx: AppContext, bad: str
) -> None:
    admin = await make_account(ctx)
    login = await call(client, "login", {"email": admin.email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    client.cookies.clear()
    cookie = {"Cookie": _session_cookie(login)}
    before = await snapshot(ctx)

    response = await call(client, "addApiToken", {"name": bad}, headers=cookie)

    assert response.status_code == 400, response.text
    assert error_of(response) == visible_text_error("name")
    assert await snapshot(ctx) == before
    named = await call(client, "addApiToken", {"name": "CI 🤖"}, headers=cookie)
    assert named.status_code == 200, named.text
    assert named.json()["name"] == "CI 🤖"
