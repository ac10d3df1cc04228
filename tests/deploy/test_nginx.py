"""deploy/nginx.conf in front of two nodes (see conftest.py): rate limits reached through any
node, client addresses believed only from the proxy, /metrics kept inside, large answers whole,
nginx's own refusals in the API's error shape."""

from __future__ import annotations

import itertools
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.deploy.proxy import (
    LOGIN_PER_CLIENT,
    LOGIN_PER_EMAIL,
    Deployment,
    Node,
    loopback_address,
    start_nginx,
)
from tests.support import PASSWORD
from tests.support.api import MiB, assert_error, padded_json
from tests.support.servers import free_port
from tests.support.sessions import set_cookies

pytestmark = pytest.mark.processes

BAD_LOGIN = "Invalid email or password"
WRONG_PASSWORD = "not the password"


def login(
    client: httpx.Client, email: str, password: str, forwarded_for: str | None = None
) -> httpx.Response:
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    response = client.post(
        "/api/login", json={"email": email, "password": password}, headers=headers
    )
    client.cookies.clear()
    return response


def assert_failed(response: httpx.Response) -> None:
    assert_error(response, 401, BAD_LOGIN)
    assert not set_cookies(response)


def assert_limited(response: httpx.Response) -> None:
    """A 429 that started no session."""
    assert_error(response, 429, "Too many requests, try again later")
    assert int(response.headers["Retry-After"]) > 0
    assert not set_cookies(response)


def assert_logged_in(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert set_cookies(response)


def direct(node: Node, address: str) -> httpx.Client:
    """A client straight to one node (no proxy), its connections from ``address``."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=node.origin, transport=transport, timeout=30)


def node_addresses(deployment: Deployment) -> set[str]:
    return {node.address for node in deployment.nodes}


# --- rate limits: one budget, whichever node counts it ----------------------------------------


def test_the_login_limit_per_email_is_reached_through_nginx_on_alternating_nodes(
    deployment: Deployment,
) -> None:
    nginx = deployment.nginx
    victim = deployment.admin()
    with nginx.client(loopback_address()) as client:
        failures = [login(client, victim.email, WRONG_PASSWORD) for _ in range(LOGIN_PER_EMAIL)]
        for failure in failures:
            assert_failed(failure)
        served = nginx.served([failure.headers["X-Request-ID"] for failure in failures])
        assert set(served) == node_addresses(deployment)
        assert all(one != next_one for one, next_one in itertools.pairwise(served))
        # The right password, too late: through nginx, and on each node directly.
        assert_limited(login(client, victim.email, PASSWORD))
    for node in deployment.nodes:
        with direct(node, loopback_address()) as client:
            assert_limited(login(client, victim.email, PASSWORD))
    assert deployment.sessions_of(victim.user_id) == 0

    other = deployment.admin()  # another email has its own budget
    with nginx.client(loopback_address()) as client:
        assert_logged_in(login(client, other.email, PASSWORD))
    assert deployment.sessions_of(other.user_id) == 1


def test_the_login_limit_per_email_is_shared_by_nodes_called_directly(
    deployment: Deployment,
) -> None:
    victim = deployment.admin()
    first, second = (direct(node, loopback_address()) for node in deployment.nodes)
    with first, second:
        for attempt in range(LOGIN_PER_EMAIL):
            assert_failed(login((first, second)[attempt % 2], victim.email, WRONG_PASSWORD))
        assert_limited(login(first, victim.email, PASSWORD))
        assert_limited(login(second, victim.email, PASSWORD))
    assert deployment.sessions_of(victim.user_id) == 0


def test_clients_behind_nginx_have_a_login_budget_each(deployment: Deployment) -> None:
    """nginx's own address is not the client's: one client spending its budget leaves the
    others theirs."""
    nginx = deployment.nginx
    member = deployment.admin()
    with nginx.client(loopback_address()) as client:
        for _ in range(LOGIN_PER_CLIENT):  # a new email each time: only the client's budget
            assert_failed(login(client, f"nobody-{secrets.token_hex(4)}@acme.com", "guess"))
        assert_limited(login(client, member.email, PASSWORD))
    assert deployment.sessions_of(member.user_id) == 0
    with nginx.client(loopback_address()) as other_client:
        assert_failed(login(other_client, f"nobody-{secrets.token_hex(4)}@acme.com", "guess"))
        assert_logged_in(login(other_client, member.email, PASSWORD))
    assert deployment.sessions_of(member.user_id) == 1


def test_a_client_forging_x_forwarded_for_through_nginx_is_counted_as_itself(
    deployment: Deployment,
) -> None:
    """nginx appends the address it sees; the node takes that one, not what the client wrote."""
    nginx = deployment.nginx
    member = deployment.admin()
    victim_address = loopback_address()
    with nginx.client(loopback_address()) as forger:
        for _ in range(LOGIN_PER_CLIENT):  # each failure blamed on the victim, if believed
            email = f"nobody-{secrets.token_hex(4)}@acme.com"
            assert_failed(login(forger, email, "guess", forwarded_for=victim_address))
        # Its budget spent, no address it names buys it another.
        for forged in (loopback_address(), "1.2.3.4", "127.0.0.1", f"1.2.3.4, {victim_address}"):
            assert_limited(login(forger, member.email, PASSWORD, forwarded_for=forged))
    assert deployment.sessions_of(member.user_id) == 0
    with nginx.client(victim_address) as victim:  # the victim's budget is untouched
        assert_logged_in(login(victim, member.email, PASSWORD))
    assert deployment.sessions_of(member.user_id) == 1


def test_x_forwarded_for_sent_straight_to_a_node_is_ignored(deployment: Deployment) -> None:
    """Only the proxy (TEAMGATE_TRUSTED_PROXIES) is believed: a client that reaches a node
    directly is its own address whatever it claims."""
    member = deployment.admin()
    victim_address = loopback_address()
    forger_address = loopback_address()
    first, second = (direct(node, forger_address) for node in deployment.nodes)
    with first, second:
        for attempt in range(LOGIN_PER_CLIENT):
            email = f"nobody-{secrets.token_hex(4)}@acme.com"
            forged = victim_address if attempt % 2 else loopback_address()
            assert_failed(login((first, second)[attempt % 2], email, "guess", forged))
        for node_client in (first, second):
            forged = loopback_address()
            assert_limited(login(node_client, member.email, PASSWORD, forwarded_for=forged))
    assert deployment.sessions_of(member.user_id) == 0
    with direct(deployment.nodes[0], victim_address) as victim:
        assert_logged_in(login(victim, member.email, PASSWORD))
    assert deployment.sessions_of(member.user_id) == 1


# --- what nginx lets through ----------------------------------------------------------------


def test_metrics_are_refused_outside_the_monitoring_network(deployment: Deployment) -> None:
    nginx = deployment.nginx
    with nginx.client(loopback_address()) as outsider:
        for path in ("/metrics", "/metrics/", "/metrics?name=x", "//metrics", "/%6Detrics"):
            refused = outsider.get(httpx.URL(nginx.https).copy_with(raw_path=path.encode()))
            assert refused.request.url.raw_path == path.encode()
            assert refused.status_code == 403, path
            assert "X-Request-ID" not in refused.headers, path  # no node saw it
            assert refused.headers["Server"] == "nginx"  # and no version is told
    with nginx.client(deployment.monitoring) as monitor:
        allowed = monitor.get("/metrics")
    assert allowed.status_code != 403
    assert "X-Request-ID" in allowed.headers  # a node answered


def test_health_checks_pass_through_unlogged(deployment: Deployment) -> None:
    nginx = deployment.nginx
    with nginx.client(loopback_address()) as client:
        health = client.get("/healthz")
        ready = client.get("/readyz")
        team = client.post("/api/getTeamData", json={})  # logged, as every other request
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert "X-Request-ID" in ready.headers  # a node's answer, whatever it is
    assert_error(team, 401, "Unauthorized")
    assert nginx.served([team.headers["X-Request-ID"]])[0] in node_addresses(deployment)
    log = nginx.access_log.read_text()
    assert "/healthz" not in log
    assert "/readyz" not in log


def test_a_large_team_list_passes_whole(deployment: Deployment) -> None:
    """Larger than nginx's buffers (it spills to a temporary file), the same bytes the node
    sends, compressed on the way when the client accepts it."""
    admin = deployment.admin()
    members = 5000
    deployment.sql(
        "WITH added AS ("
        "  INSERT INTO users (email, name, created_at)"
        "  SELECT 'member-' || g || '@acme.com', repeat('n', 150) || g, 0"
        "  FROM generate_series(1, $2::int) AS g RETURNING id)"
        " INSERT INTO memberships (account_id, user_id, role, created_at)"
        " SELECT $1::int, id, 'MEMBER', 0 FROM added",
        admin.account_id,
        members,
    )
    headers = {"X-API-KEY": admin.api_key}
    with direct(deployment.nodes[0], "127.0.0.1") as node:
        expected = node.post("/api/getTeamData", json={}, headers=headers)
    assert expected.status_code == 200
    assert len(expected.json()) == members + 1
    assert len(expected.content) > 512 * 1024  # more than the proxy buffers hold

    with deployment.nginx.client(loopback_address()) as client:
        compressed = client.post(
            "/api/getTeamData", json={}, headers={**headers, "Accept-Encoding": "gzip"}
        )
        plain = client.post(
            "/api/getTeamData", json={}, headers={**headers, "Accept-Encoding": "identity"}
        )
    assert compressed.status_code == plain.status_code == 200
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert compressed.num_bytes_downloaded < len(expected.content) / 4
    assert compressed.content == expected.content
    assert "Content-Encoding" not in plain.headers
    assert plain.content == expected.content
    assert plain.headers["Cache-Control"] == "no-store"


def test_a_body_over_1_mib_is_refused_by_nginx_in_the_api_error_shape(
    deployment: Deployment,
) -> None:
    headers = {"Content-Type": "application/json"}
    with deployment.nginx.client(loopback_address()) as client:
        refused = client.post("/api/login", content=padded_json(MiB + 1), headers=headers)
        accepted = client.post("/api/login", content=padded_json(MiB), headers=headers)
    assert_error(refused, 413, "Request body is larger than 1 MiB")
    assert "X-Request-ID" not in refused.headers  # nginx answered alone
    assert "Strict-Transport-Security" in refused.headers
    assert "X-Request-ID" in accepted.headers  # exactly 1 MiB reaches a node, which reads it
    assert_failed(accepted)


def test_plain_http_redirects_to_the_public_name(deployment: Deployment) -> None:
    url = f"{deployment.nginx.http}/team?tab=members"
    with httpx.Client(timeout=30, headers={"Host": "evil.example"}) as client:
        redirect = client.get(url)
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == "https://teams.example.com/team?tab=members"


def test_the_access_log_holds_no_query_string(deployment: Deployment) -> None:
    """Invite and password links carry their secret in the query string."""
    nginx = deployment.nginx
    secret = secrets.token_urlsafe(24)
    with nginx.client(loopback_address()) as client:
        page = client.get("/signup", params={"signupInvitationCode": secret})
    assert nginx.served([page.headers["X-Request-ID"]])[0] in node_addresses(deployment)
    log = nginx.access_log.read_text()
    assert '"GET /signup"' in log
    assert secret not in log


def test_a_link_made_on_one_node_is_accepted_on_the_other(deployment: Deployment) -> None:
    """Every node signs and checks invite codes with the same TEAMGATE_SECRET_KEY (each has a
    data folder of its own, where a generated key would differ)."""
    nginx = deployment.nginx
    admin = deployment.admin()
    email = f"bob-{secrets.token_hex(4)}@acme.com"
    with nginx.client(loopback_address()) as client:
        invited = client.post(
            "/api/inviteUsers",
            json={"inviteeEmail": email, "inviteeRole": "MEMBER"},
            headers={"X-API-KEY": admin.api_key},
        )
        assert invited.status_code == 200, invited.text
        link = invited.json()["finalInviteCode"]
        assert link.startswith(f"{nginx.https}/signup?")  # TEAMGATE_PUBLIC_URL: the proxy
        code = parse_qs(urlsplit(link).query)["signupInvitationCode"][0]
        accepted = client.post(
            "/api/acceptInvite", json={"inviteCode": code, "name": "Bob", "password": PASSWORD}
        )
    assert_logged_in(accepted)
    made_on, accepted_on = nginx.served(
        [invited.headers["X-Request-ID"], accepted.headers["X-Request-ID"]]
    )
    assert {made_on, accepted_on} == node_addresses(deployment)
    member_id = deployment.sql("SELECT id FROM users WHERE email = $1", email)
    assert (
        deployment.sql(
            "SELECT role FROM memberships WHERE account_id = $1 AND user_id = $2",
            admin.account_id,
            member_id,
        )
        == "MEMBER"
    )


def test_without_a_node_answering_nginx_says_503_in_the_api_error_shape(
    deployment: Deployment,
) -> None:
    directory = deployment.directory / "no-nodes"
    directory.mkdir()
    nowhere = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]  # nothing listens
    nginx = start_nginx(
        directory,
        (free_port(), free_port()),
        nowhere,
        deployment.monitoring,
        deployment.certificate,
        healthy=False,
    )
    try:
        with nginx.client(loopback_address()) as client:
            unavailable = client.post("/api/getTeamData", json={}, headers={"X-API-KEY": "tg_x"})
    finally:
        nginx.stop()
    assert_error(unavailable, 503, "Service is unavailable, try again shortly")
    assert unavailable.headers["Retry-After"] == "5"
    assert "Strict-Transport-Security" in unavailable.headers
