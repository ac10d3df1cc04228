"""The history page over HTTP: the events real actions recorded, its filters and paging, the
team on a past day, and who may see it."""

from __future__ import annotations

import html
import re
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import httpx
from sqlalchemy import update

from teamgate import audit
from teamgate.context import AppContext
from teamgate.models import audit_log
from teamgate.web import history as history_page
from tests.conftest import Member, make_account, make_member
from tests.support import PASSWORD
from tests.support.api import call
from tests.support.invitations import invited_code
from tests.support.pages import form_of, sign_in


class _Tables(HTMLParser):
    """Every table's body rows, each as {its cells' data-label: their text}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[dict[str, str]]] = []
        self._row: dict[str, str] | None = None
        self._cell: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self._row = {}
        elif tag == "td" and self._row is not None:
            self._cell, self._text = dict(attrs).get("data-label") or "", []

    def handle_data(self, data: str) -> None:
        if self._cell is not None and data.strip():
            self._text.append(data.strip())

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row[self._cell] = " ".join(self._text)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.tables[-1].append(self._row)
            self._row = None


def _tables(page: httpx.Response) -> list[list[dict[str, str]]]:
    parser = _Tables()
    parser.feed(page.text)
    return parser.tables


def _events(page: httpx.Response) -> list[tuple[str, str, str, str]]:
    """The events table: (done by, action, done to, details) per row, as shown."""
    rows = next((t for t in _tables(page) if t and "Time" in t[0]), [])
    return [(r["Done by"], r["Action"], r["Done to"], r.get("Details", "")) for r in rows]


def _team_then(page: httpx.Response) -> list[str]:
    rows = next((t for t in _tables(page) if t and "Role then" in t[0]), [])
    return [f"{r['Person']}: {r['Role then']}" for r in rows]


def _link(page: httpx.Response, text: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)">{text}</a>', page.text)
    return html.unescape(found.group(1)) if found else None


def _epoch(day: str, clock: str = "12:00:00") -> int:
    return int(datetime.fromisoformat(f"{day}T{clock}+00:00").timestamp())


async def _accept(client: httpx.AsyncClient, key: str, email: str, role: str) -> None:
    code = await invited_code(client, key, email, role)
    body = {"inviteCode": code, "name": email.split("@")[0].title(), "password": PASSWORD}
    accepted = await call(client, "acceptInvite", body)
    assert accepted.status_code == 200, accepted.text
    client.cookies.clear()  # the invitee's session: this client is the admin's


async def _story(client: httpx.AsyncClient, ctx: AppContext) -> Member:
    """Acme's history, through the API: Bob joins, is made a VIEWER, Eve is invited, the policy
    changes, Bob is removed; then the admin signs in to the pages."""
    admin = await make_account(ctx, admin_email="ada@acme.com")
    key = admin.api_key
    await _accept(client, key, "bob@acme.com", "MEMBER")
    for endpoint, body in (
        ("makeAdmin", {"email": "bob@acme.com", "userRole": "VIEWER"}),
        ("inviteUsers", {"inviteeEmail": "eve@acme.com", "inviteeRole": "DEVELOPER"}),
        ("updateAccountSettings", {"seatLimit": 10, "whoCanInvite": "ADMINS"}),
        ("removeUser", {"email": "bob@acme.com"}),
    ):
        done = await call(client, endpoint, body, key=key)
        assert done.status_code == 200, done.text
    await sign_in(client, "ada@acme.com")
    return admin


async def _recorded(client: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    """Every event, oldest first (through the API)."""
    page = await call(client, "getAuditLogs", {"limit": 500}, key=key)
    assert page.status_code == 200, page.text
    return list(reversed(page.json()["events"]))


async def _place(ctx: AppContext, times: dict[int, int]) -> None:
    """Move events (by id) to the given times."""
    async with ctx.db.write() as conn:
        for event_id, at in times.items():
            await conn.execute(update(audit_log).where(audit_log.c.id == event_id).values(at=at))


async def test_an_admin_sees_what_happened_newest_first(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await _story(client, ctx)

    page = await client.get("/history")

    assert page.status_code == 200
    assert '<a href="/history" aria-current="page">History</a>' in page.text
    until = re.compile(r"until \d{4}-\d\d-\d\d \d\d:\d\d UTC$")
    events = [
        (by, action, to, until.sub("until <day> <time> UTC", d))
        for by, action, to, d in _events(page)
    ]
    assert events == [
        ("ada@acme.com", "Signed in", "ada@acme.com", ""),
        ("ada@acme.com", "Member removed", "bob@acme.com", "was VIEWER"),
        (
            "ada@acme.com",
            "Settings changed",
            "—",
            "Who may invite: admins and members → admins only Seat limit: no limit → 10",
        ),
        (
            "ada@acme.com",
            "Invited",
            "eve@acme.com",
            "as DEVELOPER link works until <day> <time> UTC",
        ),
        ("ada@acme.com", "Role changed", "bob@acme.com", "MEMBER → VIEWER"),
        ("bob@acme.com", "Joined", "bob@acme.com", "as MEMBER"),
        ("ada@acme.com", "Invited", "bob@acme.com", "as MEMBER link works until <day> <time> UTC"),
        ("cli", "Account created", "ada@acme.com", "as ADMIN named “Acme”"),
    ]
    stamp = re.search(r'<time datetime="([^"]+)" data-format="utc">([^<]+)</time>', page.text)
    assert stamp is not None
    shown = datetime.fromisoformat(stamp.group(1).replace("Z", "+00:00"))
    assert stamp.group(2) == shown.strftime("%Y-%m-%d %H:%M UTC")
    assert "requestId" not in page.text
    assert _link(page, "Older events") is None  # one page


async def test_filters_narrow_the_events(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await _story(client, ctx)

    async def shown(**query: str) -> list[tuple[str, str]]:
        page = await client.get("/history", params=query)
        assert page.status_code == 200, page.text
        kept = form_of(page.text, "/history")
        assert {name: kept.get(name, "") for name in query} == query  # the form keeps them
        return [(action, target) for _, action, target, _ in _events(page)]

    assert await shown(action="member.role_change") == [("Role changed", "bob@acme.com")]
    assert await shown(actor="BOB@acme.com") == [("Joined", "bob@acme.com")]
    assert await shown(actor="cli") == [("Account created", "ada@acme.com")]
    assert await shown(target="bob@acme.com", action="invitation.create") == [
        ("Invited", "bob@acme.com")
    ]
    assert [a for a, _ in await shown(target="bob@acme.com")] == [
        "Member removed",
        "Role changed",
        "Joined",
        "Invited",
    ]

    # Days are UTC days, both ends included: from the first second of "from" to the last of "to".
    events = await _recorded(client, admin.api_key)
    by = {(e["action"], e["target"]): e["id"] for e in events}
    await _place(
        ctx,
        {
            by["account.create", "ada@acme.com"]: _epoch("2026-03-01", "00:00:00"),
            by["invitation.create", "bob@acme.com"]: _epoch("2026-03-01", "23:59:59"),
            by["invitation.accept", "bob@acme.com"]: _epoch("2026-03-02", "00:00:00"),
            by["member.role_change", "bob@acme.com"]: _epoch("2026-03-02", "23:59:59"),
            by["invitation.create", "eve@acme.com"]: _epoch("2026-03-03"),
            by["account.settings", None]: _epoch("2026-03-04"),
            by["member.remove", "bob@acme.com"]: _epoch("2026-03-05"),
        },
    )
    assert await shown(to="2026-03-01") == [
        ("Invited", "bob@acme.com"),
        ("Account created", "ada@acme.com"),
    ]
    assert await shown(**{"from": "2026-03-02", "to": "2026-03-02"}) == [
        ("Role changed", "bob@acme.com"),
        ("Joined", "bob@acme.com"),
    ]
    assert await shown(**{"from": "2026-03-04", "to": "2026-03-05", "action": "member.remove"}) == [
        ("Member removed", "bob@acme.com")
    ]
    nothing = await client.get("/history", params={"from": "2026-03-06", "to": "2026-03-07"})
    assert _events(nothing) == []
    assert "No events match this filter." in nothing.text


async def test_older_events_continue_without_repeats_or_gaps(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com")
    async with ctx.db.write() as conn:
        for n in range(60):
            await audit.append(
                conn,
                audit.Event(
                    at=_epoch("2026-04-01") + n,
                    action="invitation.create",
                    outcome="success",
                    request_id=None,
                    account_id=admin.account_id,
                    actor_user_id=admin.user_id,
                    actor=admin.email,
                    target=f"p{n:02}@acme.com",
                    role_after="VIEWER",
                ),
            )
    await sign_in(client, "ada@acme.com")  # one more event, the newest

    first = await client.get("/history")
    older = _link(first, "Older events")
    assert older is not None
    second = await client.get(older)
    assert _link(second, "Older events") is None
    assert _link(second, "Newest events") == "/history"

    targets = [target for _, _, target, _ in _events(first) + _events(second)]
    assert len(_events(first)) == 50
    assert targets == [
        "ada@acme.com",
        *(f"p{n:02}@acme.com" for n in reversed(range(60))),
        "ada@acme.com",
    ]

    invited = await client.get(
        "/history", params={"action": "invitation.create", "to": "2026-04-01"}
    )
    more = _link(invited, "Older events")
    assert more is not None
    assert "action=invitation.create" in more
    assert "to=2026-04-01" in more
    rest = await client.get(more)
    assert {action for _, action, _, _ in _events(rest)} == {"Invited"}
    assert [t for _, _, t, _ in _events(invited) + _events(rest)] == [
        f"p{n:02}@acme.com" for n in reversed(range(60))
    ]
    assert _link(rest, "Newest events") == "/history?action=invitation.create&to=2026-04-01"


async def test_the_team_as_it_was_at_the_end_of_a_day(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com")
    key = admin.api_key
    await _accept(client, key, "bob@acme.com", "MEMBER")
    await _accept(client, key, "cat@acme.com", "VIEWER")
    await call(client, "makeAdmin", {"email": "bob@acme.com", "userRole": "DEVELOPER"}, key=key)
    await call(client, "removeUser", {"email": "cat@acme.com"}, key=key)
    events = await _recorded(client, key)
    # One event a day from 2026-03-01: the account; Bob invited, joins; Cat invited, joins (at
    # the last second of 03-05); Bob made a DEVELOPER; Cat removed.
    times = {e["id"]: _epoch(f"2026-03-{n + 1:02}") for n, e in enumerate(events)}
    times[events[4]["id"]] = _epoch("2026-03-05", "23:59:59")
    await _place(ctx, times)
    await sign_in(client, "ada@acme.com")

    async def team_on(day: str) -> list[str]:
        page = await client.get("/history", params={"on": day})
        assert page.status_code == 200, page.text
        return _team_then(page)

    ada = "Ada Admin ada@acme.com: ADMIN"
    assert await team_on("2026-02-28") == []
    assert await team_on("2026-03-01") == [ada]
    assert await team_on("2026-03-04") == [ada, "Bob bob@acme.com: MEMBER"]
    five = await client.get("/history", params={"on": "2026-03-05"})
    assert _team_then(five) == [ada, "Bob bob@acme.com: MEMBER", "Cat cat@acme.com: VIEWER"]
    assert "3 members at the end of 2026-03-05 (UTC)" in five.text
    assert 'id="on" name="on" type="date" min="1970-01-01" required value="2026-03-05"' in five.text
    assert await team_on("2026-03-06") == [
        ada,
        "Bob bob@acme.com: DEVELOPER",
        "Cat cat@acme.com: VIEWER",
    ]
    assert await team_on("2026-03-07") == [ada, "Bob bob@acme.com: DEVELOPER"]
    before = await client.get("/history", params={"on": "2026-02-28"})
    assert "Nobody was a member then." in before.text
    # The day's team and a filtered history on one page: each form keeps the other's values.
    both = await client.get("/history", params={"on": "2026-03-01", "action": "member.remove"})
    assert _team_then(both) == [ada]
    assert [a for _, a, _, _ in _events(both)] == ["Member removed"]
    assert form_of(both.text, "/history")["on"] == "2026-03-01"
    assert form_of(both.text, "/history#access")["action"] == "member.remove"


async def test_only_admins_see_the_history(client: httpx.AsyncClient, ctx: AppContext) -> None:
    signed_out = await client.get("/history")
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/login?next=/history"

    admin = await make_account(ctx, admin_email="ada@acme.com", password=None)
    await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    await sign_in(client, "mia@acme.com")
    assert 'href="/history"' not in (await client.get("/team")).text
    for query in ({}, {"from": "not a day"}, {"on": "2026-01-01"}):
        page = await client.get("/history", params=query)
        assert page.status_code == 403
        assert "The role &#39;MEMBER&#39; does not have access." in page.text
        assert "<table" not in page.text  # nothing of the history shown


async def test_bad_values_are_shown_next_to_their_field(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    day = "must be a day written yyyy-mm-dd, from 1970-01-01 on"
    for query, field, message in (
        ({"from": "2026-02-30", "actor": "ada@acme.com"}, "from", f"from {day}"),
        ({"to": "yesterday"}, "to", f"to {day}"),
        ({"from": "1969-12-31"}, "from", f"from {day}"),
        ({"on": "tomorrow"}, "on", f"on {day}"),
        ({"action": "member.explode"}, "action", "action must be one of the actions"),
        ({"actor": "x" * 400}, "actor", "actor must be a string of at most 320 characters"),
        ({"cursor": "abc"}, "form", "cursor must be a nextCursor this endpoint gave"),
    ):
        page = await client.get("/history", params=query)
        assert page.status_code == 400, (query, page.text[:300])
        found = re.search(
            rf'<p class="field-error" id="{field}-error" role="alert">([^<]+)</p>', page.text
        )
        assert found is not None, (query, page.text)
        assert found.group(1).startswith(message)
        if field != "form":
            assert re.search(
                rf'id="{field}"[^>]*aria-describedby="{field}-error" aria-invalid="true"', page.text
            )
        kept = form_of(page.text, "/history#access" if field == "on" else "/history")
        # What was typed stays (a select offers only the actions it knows; the cursor is the
        # pager's, not a field).
        typed = {k: v for k, v in query.items() if k not in ("cursor", "action")}
        assert {name: kept.get(name) for name in typed} == typed


def test_every_kind_of_detail_reads_as_words() -> None:
    def shown(action: str, details: dict[str, Any], outcome: str = "success") -> list[str]:
        event = audit.Recorded(1, 0, 1, "ada@acme.com", action, None, outcome, "r1", details)
        return history_page.describe(event)

    assert shown("role.create", {"baseRole": "MEMBER"}) == ["based on MEMBER"]
    assert shown("role.update", {"baseRoleBefore": "ADMIN", "baseRoleAfter": "VIEWER"}) == [
        "base role ADMIN → VIEWER"
    ]
    key = {"keyId": 7, "name": "ci", "keyPrefix": "tg_ab12"}
    assert shown("api_key.create", key) == ["“ci” (tg_ab12…)"]
    assert shown("api_key.delete", {"keyId": 7}) == ["key #7"]
    assert shown("session.switch_account", {}) == []
    settings = {
        "before": {"allowedEmailDomains": [], "invitesEnabled": True, "inviteLifetimeDays": 7},
        "after": {
            "allowedEmailDomains": ["acme.com"],
            "invitesEnabled": False,
            "inviteLifetimeDays": 1,
        },
    }
    assert shown("account.settings", settings) == [
        "Invitations: on → off",
        "Invite links work for: 7 days → 1 day",
        "Allowed email domains: any domain → acme.com",
    ]
    # Events recorded before the history had roles and JSON details, and anything unforeseen.
    assert shown("member.add", {"note": "by hand", "requestId": "r1"}) == ["by hand"]
    assert shown("login", {"outcome": "failure", "extra": 1}, "failure") == ["extra: 1"]
    assert history_page.row(
        audit.Recorded(1, 86400, 1, None, "member.add", None, "success", None, {})
    ) == history_page.Row(
        86400, "1970-01-02 00:00 UTC", None, "member.add", "member.add", None, [], "success"
    )
