"""The database URL: driver options reach both the SQLAlchemy engine and the raw reader."""

from __future__ import annotations

import httpx

from teamgate.accounts.service import create_account
from teamgate.config import Settings
from tests.support.api import call


async def test_driver_options_in_the_database_url_reach_both_paths(
    postgres_url: str, tmp_path: object
) -> None:
    from teamgate.app import create_app

    url = f"{postgres_url}?sslmode=disable&prepared_statement_cache_size=100"
    app = create_app(Settings(database_url=url, data_dir=str(tmp_path), secret_key="k" * 40))
    async with app.router.lifespan_context(app):
        created = await create_account(app.state.ctx.db, name="Ssl", admin_email="ssl@ssl-test.com")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            team = await call(http, "getTeamData", key=created.api_key)
            roles = await call(http, "getRoleHierarchy", key=created.api_key)
    assert team.status_code == 200
    assert team.json()[0]["login"] == "ssl@ssl-test.com"
    assert roles.status_code == 200
