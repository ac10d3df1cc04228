"""The pages over HTTP: find a form on a page and post it back as a browser would.

A browser sends what the form holds (its hidden CSRF token included) with the cookies the page
set; these helpers do the same, so page tests exercise the real CSRF and Origin rules. The
browser tests (tests/web, Chromium) cover what HTTP cannot: CSP, Referrer-Policy, keyboard.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import httpx

from tests.support import PASSWORD, PUBLIC_ORIGIN


class _Forms(HTMLParser):
    """Every form of a page: its action and the values it would submit as it stands."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._select: str | None = None
        self._first_option: str | None = None
        self._option: tuple[str | None, bool, bool] | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append((attr.get("action", ""), {}))
        elif not self.forms:
            return
        elif tag == "input" and "name" in attr:
            kind = attr.get("type", "text")
            if kind != "checkbox" or "checked" in attr:
                self.forms[-1][1][attr["name"]] = attr.get(
                    "value", "on" if kind == "checkbox" else ""
                )
        elif tag == "textarea" and "name" in attr:
            self.forms[-1][1][attr["name"]] = ""
            self._textarea = attr["name"]  # its text follows (read in handle_data)
        elif tag == "select" and "name" in attr:
            self._select, self._first_option = attr["name"], None
        elif tag == "option" and self._select is not None:
            # An <option> without a value sends its text (read in handle_data).
            self._option = (attr.get("value"), "selected" in attr, self._first_option is None)
            self._first_option = self._first_option or "seen"
            value, selected, first = self._option
            if value is not None and (selected or first):
                self.forms[-1][1][self._select] = value

    def handle_data(self, data: str) -> None:
        if self._textarea is not None and self.forms:
            self.forms[-1][1][self._textarea] += data
            return
        if self._select is None or self._option is None or not self.forms:
            return
        value, selected, first = self._option
        if value is None and data.strip() and (selected or first):
            self.forms[-1][1][self._select] = data.strip()
        self._option = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def forms_of(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def form_of(html: str, action: str) -> dict[str, str]:
    """The values of the (first) form posting to ``action``."""
    for form_action, fields in forms_of(html):
        if form_action == action:
            return dict(fields)
    raise AssertionError(f"no form posts to {action}")


async def submit(
    client: httpx.AsyncClient,
    page: str | httpx.Response,
    action: str,
    values: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Open ``page`` (or take the response already loaded), fill the form that posts to
    ``action`` with ``values``, and post it from our own origin, as a browser does."""
    loaded = await client.get(page) if isinstance(page, str) else page
    assert loaded.status_code < 400, (loaded.status_code, loaded.text[:500])
    fields = {**form_of(loaded.text, action), **(values or {})}
    headers = {"Origin": PUBLIC_ORIGIN, **kwargs.pop("headers", {})}
    return await client.post(action, data=fields, headers=headers, **kwargs)


async def post_form(
    client: httpx.AsyncClient, action: str, values: dict[str, str], **kwargs: Any
) -> httpx.Response:
    """Post a form that no page on screen shows any more (a used link, a stale tab): with the
    CSRF token any of our pages would give, from our own origin."""
    token = csrf_token_of(await client.get("/login"))
    headers = {"Origin": PUBLIC_ORIGIN, **kwargs.pop("headers", {})}
    return await client.post(
        action, data={**values, "csrf_token": token}, headers=headers, **kwargs
    )


def csrf_token_of(page: httpx.Response) -> str:
    """The CSRF token a page's forms carry (the same in every form of the page)."""
    for _, fields in forms_of(page.text):
        if "csrf_token" in fields:
            return fields["csrf_token"]
    raise AssertionError("the page has no form with a CSRF token")


def session_cookie_set(response: httpx.Response) -> bool:
    return any(
        header.startswith("teamgate_session=") and "Max-Age=0" not in header
        for header in response.headers.get_list("set-cookie")
    )


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    """Sign in through the login page; the client then holds the session cookie."""
    signed = await submit(client, "/login", "/login", {"email": email, "password": password})
    assert signed.status_code == 303, signed.text[:500]
    return signed
