"""deploy/nginx.conf as shipped, run by Debian's nginx in front of two real `teamgate serve`
nodes on one PostgreSQL database, with their rate limits in Redis (the fixture is in
conftest.py).

The shipped file is used whole: only its addresses, ports and paths are replaced (each one must
be found exactly where expected, so an edit of the file cannot leave the test running something
else). A minimal main configuration, standing in for Debian's /etc/nginx/nginx.conf, includes it.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import secrets
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from teamgate.accounts.service import create_account
from teamgate.db import Database
from tests.support import PASSWORD, tls
from tests.support.backends import pg_dsn
from tests.support.tls import openssl

NGINX = "/usr/sbin/nginx"
SHIPPED_CONFIG = Path(__file__).parents[2] / "deploy" / "nginx.conf"
REDIS_URL = "redis://127.0.0.1:6379"
PUBLIC_NAME = "teams.example.com"  # the shipped server_name, kept: the certificate names it too
# Low budgets keep the tests short; per client above per email, so that the per-email budget
# is the one a single client runs into.
LOGIN_PER_EMAIL = 4
LOGIN_PER_CLIENT = 6
START_TIMEOUT = 60  # seconds for a process to answer, on a machine busy with other work


def loopback_address() -> str:
    """A fresh client address. Redis outlives test runs (a budget lasts 15 minutes) and is
    shared with other runs on this machine: every client of every run counts under its own."""
    octets = (1 + secrets.randbelow(254), secrets.randbelow(256), 1 + secrets.randbelow(254))
    return "127.{}.{}.{}".format(*octets)  # never 127.0.0.x (127.0.0.1 is the proxy)


def render(text: str, replacements: dict[str, tuple[str, int]]) -> str:
    """``text`` with each key replaced by its value, which must occur exactly as often as said."""
    for old, (new, count) in replacements.items():
        found = text.count(old)
        assert found == count, f"deploy/nginx.conf has {old!r} {found} times, not {count}"
        text = text.replace(old, new)
    return text


# The validity begins an hour back, for skewed clocks (see tls.CA_CONFIG).
CA_CONFIG = (
    tls.CA_CONFIG
    + """[ca_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, digitalSignature, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = none
[server_ext]
subjectAltName = DNS:{public_name}, IP:127.0.0.1
basicConstraints = critical, CA:FALSE
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
)


def new_key(work: Path, key_file: Path, common_name: str, request: str) -> None:
    """A new EC P-256 key in ``key_file`` (0600) and, in ``work``/``request``, a certificate
    request signed with it for the subject CN=``common_name``."""
    curve = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    openssl(work, "genpkey", *curve, "-out", str(key_file))
    key_file.chmod(0o600)
    subject = f"/CN={common_name}"
    openssl(work, "req", "-config", "openssl.cnf", "-new", "-key", str(key_file), "-subj", subject,
            "-out", request)  # fmt: skip


def make_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """A private CA and a certificate it signs for the public name and 127.0.0.1:
    (CA file, certificate, key). Both EC P-256 and SHA-256, valid from an hour ago for a day;
    the CA's key and bookkeeping stay in ``directory``/ca."""
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1)
    dates = ["-startdate", f"{start:%y%m%d%H%M%SZ}", "-enddate", f"{end:%y%m%d%H%M%SZ}"]
    work = directory / "ca"
    work.mkdir(mode=0o700)
    (work / "openssl.cnf").write_text(CA_CONFIG.format(public_name=PUBLIC_NAME))
    (work / "index.txt").write_text("")
    ca_file, cert_file, key_file = (directory / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca_key = work / "ca-key.pem"
    new_key(work, ca_key, "teamgate test CA", "ca.csr")
    new_key(work, key_file, PUBLIC_NAME, "cert.csr")
    ca = ["ca", "-config", "openssl.cnf", "-batch", "-notext", "-rand_serial", *dates]
    ca += ["-keyfile", str(ca_key)]
    openssl(work, *ca, "-selfsign", "-extensions", "ca_ext", "-in", "ca.csr", "-out", str(ca_file))
    openssl(work, *ca, "-cert", str(ca_file), "-extensions", "server_ext", "-in", "cert.csr",
            "-out", str(cert_file))  # fmt: skip
    return ca_file, cert_file, key_file


def wait_until_up(
    url: str,
    proc: subprocess.Popen[bytes],
    log: Path,
    verify: ssl.SSLContext | bool = True,
    status: int = 200,
) -> None:
    """Wait until ``url`` answers with ``status``, failing with the process's output if it
    exits or does not answer in time."""
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=1, verify=verify) as http:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{url}: the process exited during start-up:\n{log.read_text()}")
            try:
                if http.get(url).status_code == status:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{url} did not answer:\n{log.read_text()}")
            time.sleep(0.1)


@dataclass
class Nginx:
    proc: subprocess.Popen[bytes]
    https: str  # the public origin, https://127.0.0.1:<port>
    http: str  # the plain-HTTP listener, which only redirects
    access_log: Path
    error_log: Path
    tls: ssl.SSLContext

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: nginx's fast shutdown
            self.proc.wait(timeout=20)

    def client(self, address: str) -> httpx.Client:
        """A client whose connections come from ``address`` (any 127.x.y.z is this machine)."""
        transport = httpx.HTTPTransport(local_address=address, verify=self.tls)
        return httpx.Client(base_url=self.https, transport=transport, timeout=30)

    def served(self, request_ids: list[str]) -> list[str]:
        """The node (upstream address) that answered each request, from the access log. nginx
        writes a line once a request is over, maybe just after the client has its answer."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            logged = re.findall(
                r"upstream=(\S+) .*request_id=(\S+)$", self.access_log.read_text(), re.MULTILINE
            )
            nodes = {request_id: node for node, request_id in logged}
            if all(rid in nodes for rid in request_ids) or time.monotonic() > deadline:
                return [nodes.get(rid, "not logged") for rid in request_ids]
            time.sleep(0.05)


def start_nginx(
    directory: Path,
    ports: tuple[int, int],
    upstreams: list[str],
    monitoring: str,
    certificate: tuple[Path, Path, Path],
    *,
    healthy: bool = True,
) -> Nginx:
    """deploy/nginx.conf in Debian's nginx on ``ports`` (HTTPS, HTTP) in front of
    ``upstreams`` (two host:port), with /metrics open to the address ``monitoring``; started
    once /healthz answers 200 through it (503 when the nodes are not ``healthy``)."""
    https_port, http_port = ports
    ca_file, cert_file, key_file = certificate
    logs = directory / "logs"
    logs.mkdir(exist_ok=True)
    site = render(
        SHIPPED_CONFIG.read_text(),
        {
            "10.0.0.11:8000": (upstreams[0], 1),
            "10.0.0.12:8000": (upstreams[1], 1),
            "listen 443 ssl;": (f"listen 127.0.0.1:{https_port} ssl;", 1),
            "listen 80;": (f"listen 127.0.0.1:{http_port};", 1),
            "/etc/ssl/teamgate/fullchain.pem": (str(cert_file), 1),
            "/etc/ssl/teamgate/privkey.pem": (str(key_file), 1),
            "/var/log/nginx/": (f"{logs}/", 4),
            "allow 10.0.0.0/8;": (f"allow {monitoring};", 1),
        },
    )
    (directory / "teamgate.conf").write_text(site)
    temp = directory / "temp"
    temp.mkdir(exist_ok=True)
    main = f"""
        worker_processes 1;
        pid {directory}/nginx.pid;
        events {{ worker_connections 256; }}
        http {{
            client_body_temp_path {temp}/body;
            proxy_temp_path {temp}/proxy;
            fastcgi_temp_path {temp}/fastcgi;
            uwsgi_temp_path {temp}/uwsgi;
            scgi_temp_path {temp}/scgi;
            include {directory}/teamgate.conf;
        }}
    """
    (directory / "nginx.conf").write_text(main)
    startup_log = logs / "startup.log"
    with startup_log.open("wb") as out:
        proc = subprocess.Popen(
            [NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf"),
             "-e", str(logs / "main-error.log"), "-g", "daemon off;"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    tls = ssl.create_default_context(cafile=str(ca_file))
    nginx = Nginx(
        proc,
        f"https://127.0.0.1:{https_port}",
        f"http://127.0.0.1:{http_port}",
        logs / "teamgate.access.log",
        logs / "teamgate.error.log",
        tls,
    )
    try:
        wait_until_up(f"{nginx.https}/healthz", proc, startup_log, tls, 200 if healthy else 503)
    except BaseException:
        nginx.stop()
        raise
    return nginx


@dataclass
class Node:
    proc: subprocess.Popen[bytes]
    origin: str
    log: Path

    @property
    def address(self) -> str:
        return self.origin.removeprefix("http://")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@dataclass(frozen=True)
class Admin:
    email: str
    user_id: int
    account_id: int
    api_key: str


@dataclass
class Deployment:
    database_url: str
    nginx: Nginx
    nodes: list[Node]
    monitoring: str  # the one address /metrics is open to through nginx
    directory: Path
    certificate: tuple[Path, Path, Path]

    def admin(self) -> Admin:
        """A new user with the test password, the ADMIN of a new account."""
        email = f"ada-{secrets.token_hex(6)}@acme.com"

        async def create() -> Admin:
            db = Database(self.database_url)
            try:
                created = await create_account(
                    db, name="Acme", admin_email=email, admin_password=PASSWORD
                )
            finally:
                await db.dispose()
            return Admin(email, created.user_id, created.account_id, created.api_key)

        return asyncio.run(create())

    def sql(self, query: str, *args: object) -> object:
        """One value read (or written) straight from the nodes' database."""

        async def run() -> object:
            conn = await asyncpg.connect(pg_dsn(self.database_url))
            try:
                return await conn.fetchval(query, *args)
            finally:
                await conn.close()

        return asyncio.run(run())

    def sessions_of(self, user_id: int) -> object:
        return self.sql("SELECT count(*) FROM sessions WHERE user_id = $1", user_id)
