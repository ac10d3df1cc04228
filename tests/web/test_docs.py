"""/docs (Swagger UI) and /redoc (ReDoc): served from the package, under a strict CSP."""

from __future__ import annotations

import re

import httpx

from teamgate.web.docs import ASSETS_PATH, REDOC_LOGO

PAGES = {"/docs": "swagger-init.js", "/redoc": "redoc-init.js"}


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
