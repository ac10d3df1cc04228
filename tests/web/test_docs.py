"""/docs (Swagger UI) and /redoc (ReDoc): served from the package, under a strict CSP, and
working in a browser that can reach nothing but the server."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect

from teamgate import __version__
from teamgate.web.docs import ASSETS_PATH, REDOC_LOGO
from tests.support.browser import PHONE, NewPage, screenshot

PAGES = {"/docs": "swagger-init.js", "/redoc": "redoc-init.js"}
TITLE = f"teamgate ({__version__})"  # ReDoc's heading


def _csp(response: httpx.Response) -> dict[str, str]:
    directives = response.headers["content-security-policy"].split(";")
    return {d.split()[0]: d.strip().partition(" ")[2] for d in directives if d.strip()}


async def test_docs_pages_load_their_assets_from_the_server_only(
    client: httpx.AsyncClient,
) -> None:
    for path, init_script in PAGES.items():
        response = await client.get(path)

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-frame-options"] == "DENY"
        csp = _csp(response)
        assert csp["default-src"] == "'none'"
        assert csp["script-src"] == "'self'"
        assert csp["frame-ancestors"] == "'none'"
        assert "unsafe" not in response.headers["content-security-policy"]
        # No inline script: every <script> loads a file of ours.
        scripts = re.findall(r"<script([^>]*)>", response.text)
        sources = [re.search(r'src="([^"]+)"', attributes) for attributes in scripts]
        assert all(sources), scripts
        assert f"{ASSETS_PATH}/{init_script}" in [s.group(1) for s in sources if s]
        links = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert links
        for link in links:
            assert link.startswith((ASSETS_PATH + "/", "/openapi.json")), link
            assert (await client.get(link)).status_code == 200, link


async def test_redoc_styles_carry_a_new_nonce_each_time(client: httpx.AsyncClient) -> None:
    nonces = []
    for _ in range(2):
        response = await client.get("/redoc")
        nonce = re.search(r'<script src="[^"]+/redoc-init.js" nonce="([^"]+)">', response.text)
        assert nonce is not None
        assert f"'nonce-{nonce.group(1)}'" in _csp(response)["style-src"].split()
        nonces.append(nonce.group(1))
    assert nonces[0] != nonces[1]


async def test_assets_are_the_packaged_files(client: httpx.AsyncClient) -> None:
    swagger = await client.get(f"{ASSETS_PATH}/swagger-ui-bundle.js")
    assert swagger.status_code == 200
    assert swagger.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in swagger.text
    css = await client.get(f"{ASSETS_PATH}/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css")
    favicon = await client.get(f"{ASSETS_PATH}/favicon.png")
    assert favicon.content.startswith(b"\x89PNG")

    # ReDoc's bundle, less the one address it would load from elsewhere; still cacheable.
    redoc = await client.get(f"{ASSETS_PATH}/redoc.standalone.js")
    assert redoc.status_code == 200
    assert redoc.headers["content-type"].startswith("text/javascript")
    assert "Redoc" in redoc.text[:2000]
    assert REDOC_LOGO.decode() not in redoc.text
    assert "cdn.redoc.ly" not in redoc.text
    again = await client.get(
        f"{ASSETS_PATH}/redoc.standalone.js", headers={"if-none-match": redoc.headers["etag"]}
    )
    assert again.status_code == 304

    assert (await client.get(f"{ASSETS_PATH}/nothing.js")).status_code == 404
    assert (await client.post(f"{ASSETS_PATH}/redoc-init.js")).status_code == 405


async def test_docs_pages_are_not_in_the_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]


async def test_swagger_ui_shows_the_operations_and_calls_the_api(page: Page) -> None:
    await page.goto("/docs")

    operation = page.locator(".opblock", has=page.locator('[data-path="/api/getTeamData"]'))
    await expect(operation).to_contain_text("/api/getTeamData")
    await expect(page.locator(".opblock")).to_have_count(await _operation_count(page))
    await screenshot(page, "docs")
    # "Try it out" reaches the API from the page (no key: the API's own 401 comes back).
    await operation.locator(".opblock-summary").click()
    await operation.get_by_role("button", name="Try it out").click()
    await operation.get_by_role("button", name="Execute").click()
    await expect(operation.locator(".live-responses-table")).to_contain_text("Unauthorized")


async def _operation_count(page: Page) -> int:
    schema = await page.request.get("/openapi.json")
    paths: dict[str, dict[str, object]] = (await schema.json())["paths"]
    return sum(len(methods) for methods in paths.values())


async def test_redoc_shows_the_api_and_searches_it(page: Page) -> None:
    await page.goto("/redoc")

    await expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    await screenshot(page, "redoc")
    # Search runs in a worker made from a blob: (allowed by the CSP, and still offline).
    await page.get_by_placeholder("Search...").fill("invite")
    await expect(page.locator('[data-role="search:results"] li').first).to_be_visible()


async def test_docs_pages_work_on_a_phone(new_page: NewPage) -> None:
    page = await new_page(PHONE)
    for path, shows in (("/docs", "/api/getTeamData"), ("/redoc", TITLE)):
        await page.goto(path)
        await expect(page.get_by_text(shows).first).to_be_visible()
        await screenshot(page, path.strip("/"))
