"""Two real `teamgate serve` processes per backend, shared by every race test of this package."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from teamgate.db import Database
from tests.support.backends import BACKENDS, clear_postgres
from tests.support.servers import start_cheap_servers, stop_servers


@pytest.fixture(scope="package", params=BACKENDS)
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[str]]]:
    """Two cheap-hashing `teamgate serve` processes on one database: (its URL, their origins).

    Started once per backend for the whole package: each test seeds its own accounts and emails.
    """
    backend: str = request.param
    if backend not in BACKENDS:  # a test parametrized for one backend that is left out
        pytest.skip(f"{backend} is not in TEAMGATE_TEST_BACKENDS")
    data_dir = tmp_path_factory.mktemp("servers")
    if backend == "sqlite":
        url = f"sqlite:///{data_dir / 'shared.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        clear_postgres(url)
    procs, origins = start_cheap_servers(url, data_dir, 2)
    try:
        yield url, origins
    finally:
        stop_servers(procs)


@pytest.fixture
async def db(servers: tuple[str, list[str]]) -> AsyncIterator[Database]:
    """The servers' database, as the test sees it."""
    database = Database(servers[0])
    yield database
    await database.dispose()
