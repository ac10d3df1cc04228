"""The deployment the tests in this package run against (see proxy.py)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.proxy import (
    LOGIN_PER_CLIENT,
    LOGIN_PER_EMAIL,
    NGINX,
    REDIS_URL,
    Deployment,
    Nginx,
    Node,
    loopback_address,
    make_certificate,
    start_nginx,
    wait_until_up,
)
from tests.support.backends import BACKENDS, clear_postgres
from tests.support.servers import CHEAP_TEAMGATE, free_port


@pytest.fixture(scope="module")
def deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    """Two cheap-hashing nodes (a data folder each, one database, one Redis, one secret key)
    trusting 127.0.0.1, and nginx on 127.0.0.1 in front of them with deploy/nginx.conf."""
    if "postgresql" not in BACKENDS:
        pytest.skip("several nodes share a PostgreSQL database, left out by TEAMGATE_TEST_BACKENDS")
    if not os.access(NGINX, os.X_OK):
        pytest.fail(f"{NGINX} is missing: `make nginx` installs Debian's nginx")
    url: str = request.getfixturevalue("postgres_url")
    clear_postgres(url)
    # Not under pytest's temporary folder (mode 0700): nginx's workers drop root and must reach
    # their temporary files, as they reach /var/lib/nginx on a server.
    directory = Path(tempfile.mkdtemp(prefix="teamgate-nginx-"))
    directory.chmod(0o755)
    nodes: list[Node] = []
    nginx: Nginx | None = None
    try:
        certificate = make_certificate(directory)
        ports = [free_port(), free_port()]
        proxy_ports = free_port(), free_port()
        public = f"https://127.0.0.1:{proxy_ports[0]}"  # nginx's address: where links point
        env = {
            **os.environ,
            "TEAMGATE_DATABASE_URL": url,
            "TEAMGATE_SECRET_KEY": "deploy-test-signing-key-" + secrets.token_hex(16),
            "TEAMGATE_PUBLIC_URL": public,
            "TEAMGATE_TRUSTED_PROXIES": "127.0.0.1",
            "TEAMGATE_RATE_LIMIT_STORAGE": REDIS_URL,
            "TEAMGATE_RATE_LIMIT_LOGIN_PER_EMAIL": f"{LOGIN_PER_EMAIL} per 15 minutes",
            "TEAMGATE_RATE_LIMIT_LOGIN_PER_CLIENT": f"{LOGIN_PER_CLIENT} per 15 minutes",
            "TEAMGATE_MAIL_WORKER": "false",
        }
        for port in ports:
            data_dir = directory / f"node-{port}"  # a data folder each, as on two machines
            log = directory / f"node-{port}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, CHEAP_TEAMGATE, "serve", "--port", str(port)],
                    env={**env, "TEAMGATE_DATA_DIR": str(data_dir)},
                    stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            nodes.append(Node(proc, f"http://127.0.0.1:{port}", log))
        for node in nodes:
            wait_until_up(f"{node.origin}/healthz", node.proc, node.log)
        monitoring = loopback_address()
        nginx = start_nginx(
            directory, proxy_ports, [node.address for node in nodes], monitoring, certificate
        )
        yield Deployment(url, nginx, nodes, monitoring, directory, certificate)
    finally:
        if nginx is not None:
            nginx.stop()
        for node in nodes:
            node.stop()
        shutil.rmtree(directory, ignore_errors=True)
