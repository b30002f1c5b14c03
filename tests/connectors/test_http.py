"""HttpClient against a real HTTP server on 127.0.0.1: pagination, retries, rate limits, caching, errors."""

import logging

import pytest

from connectors.base import ConnectorError, PermissionProblem
from connectors.http import CachedResponse, DjangoCacheResponseCache, HttpClient, HttpError
from pipeaccess.redact import MASK, redact
from tests.connectors.httpserver import Reply, ScriptedServer, tls_files
from tests.fakes import FakeTime

TOKEN = "ghp_" + "s3cr3tT0kenValue0123456789abcdefABCD"
NOW = 1_700_000_000.0


class MemoryCache:
    def __init__(self):
        self.entries: dict[str, CachedResponse] = {}

    def get(self, key):
        return self.entries.get(key)

    def set(self, key, value):
        self.entries[key] = value


@pytest.fixture
def server():
    with ScriptedServer() as scripted:
        yield scripted


@pytest.fixture
def fake_time():
    return FakeTime(NOW)


@pytest.fixture
def make_client(server, fake_time):
    clients = []

    def make(base_url: str | None = None, **options) -> HttpClient:
        options.setdefault("allow_private_network", True)
        options.setdefault("sleep", fake_time.sleep)
        options.setdefault("clock", fake_time.clock)
        options.setdefault("max_retries", 3)
        options.setdefault("timeout", 2.0)
        client = HttpClient(base_url or server.url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# --- URLs and pagination ----------------------------------------------------------


def test_it_joins_relative_paths_to_a_base_url_with_a_path(server, make_client):
    server.route("/api/v3/orgs/acme", Reply(json={"login": "acme"}))
    client = make_client(f"{server.url}/api/v3/")
    response = client.get("/orgs/acme", params={"per_page": 100})
    assert response.data == {"login": "acme"}
    assert response.status == 200
    assert response.headers["CONTENT-TYPE"] == "application/json; charset=utf-8"
    assert server.paths == ["/api/v3/orgs/acme?per_page=100"]


def test_it_follows_link_headers_without_building_urls(server, make_client):
    # GitHub switches to /repositories/{id}/... in its links; we must follow them verbatim.
    base = server.url
    server.route(
        "/api/v3/orgs/acme/repos",
        Reply(
            json=[1, 2], headers={"Link": f'<{base}/repositories/9/repos?page=2>; rel="next", <{base}/x>; rel="last"'}
        ),
    )
    server.route(
        "/repositories/9/repos?page=2",
        Reply(json=[3, 4], headers={"Link": f'<{base}/repositories/9/repos?page=3>; rel="next"'}),
    )
    server.route("/repositories/9/repos?page=3", Reply(json=[5]))
    client = make_client(f"{base}/api/v3")

    pages = list(client.paginate("/orgs/acme/repos", {"per_page": 2}))

    assert [page.data for page in pages] == [[1, 2], [3, 4], [5]]
    assert server.paths == [
        "/api/v3/orgs/acme/repos?per_page=2",
        "/repositories/9/repos?page=2",
        "/repositories/9/repos?page=3",
    ]


def _numbered_list(server, pages: int, *, delay: float = 0.05, grows: bool = False) -> None:
    """GitHub-style page-numbered list: every page names next and last; the last page may gain a successor."""
    for n in range(1, pages + 1):
        links = []
        if n < pages or grows:
            links.append(f'<{server.url}/orgs/acme/members?per_page=2&page={n + 1}>; rel="next"')
            links.append(f'<{server.url}/orgs/acme/members?per_page=2&page={pages}>; rel="last"')
        path = "/orgs/acme/members?per_page=2" + (f"&page={n}" if n > 1 else "")
        server.route(path, Reply(json=[2 * n - 1, 2 * n], headers={"Link": ", ".join(links)}, delay=delay))
    if grows:
        server.route(f"/orgs/acme/members?per_page=2&page={pages + 1}", Reply(json=[2 * pages + 1]))


def test_a_list_that_names_its_last_page_is_read_concurrently_and_in_order(server, make_client):
    """An org-wide list of many pages costs the latency of a few: pages 2..last in flight together, same count."""
    _numbered_list(server, 10)
    client = make_client(max_concurrency=4)

    items = [item for page in client.paginate("/orgs/acme/members", {"per_page": 2}) for item in page.data]

    assert items == list(range(1, 21))
    assert len(server.received) == 10
    assert server.max_active == 4


def test_a_list_that_grew_while_it_was_read_is_finished_by_its_next_links(server, make_client):
    _numbered_list(server, 4, delay=0, grows=True)
    client = make_client(max_concurrency=4)

    items = [item for page in client.paginate("/orgs/acme/members", {"per_page": 2}) for item in page.data]

    assert items == list(range(1, 10))
    assert len(server.received) == 5


def test_inside_a_worker_a_list_is_read_one_page_at_a_time(server, make_client):
    """Fan-out happens once: lists read by imap's workers page sequentially, so concurrency stays the client's."""
    _numbered_list(server, 6)
    client = make_client(max_concurrency=2)

    def read(_):
        return [item for page in client.paginate("/orgs/acme/members", {"per_page": 2}) for item in page.data]

    results = list(client.imap(read, range(2)))

    assert results == [list(range(1, 13))] * 2
    assert server.max_active == 2


def test_pagination_stops_when_a_link_points_back_to_a_page_already_read(server, make_client):
    server.route("/items", Reply(json=[1], headers={"Link": f'<{server.url}/items>; rel="next"'}))
    client = make_client()
    with pytest.raises(ConnectorError, match="links back to a page already read"):
        list(client.paginate("/items"))
    assert server.paths == ["/items"]


def test_a_second_sync_of_the_same_url_is_answered_from_the_cache(server, make_client):
    server.route("/orgs/acme/members", Reply(json=[{"login": "octocat"}], headers={"ETag": 'W/"v1"'}))
    cache = MemoryCache()
    first = make_client(cache=cache, cache_namespace="connector:1:aaaa").get("/orgs/acme/members")
    second_client = make_client(cache=cache, cache_namespace="connector:1:aaaa")
    second = second_client.get("/orgs/acme/members")

    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.data == first.data == [{"login": "octocat"}]
    assert second.status == 200
    assert server.received[1].headers["if-none-match"] == 'W/"v1"'
    assert second_client.stats.not_modified == 1
    assert second_client.stats.requests == 1
    # A 304 does not count against GitHub's primary limit.
    assert second_client.stats.rate_limit_used == 0


def test_a_new_cache_namespace_does_not_reuse_another_tokens_entries(server, make_client):
    server.route("/orgs/acme/members", Reply(json=[], headers={"ETag": '"v1"'}))
    cache = MemoryCache()
    make_client(cache=cache, cache_namespace="connector:1:token-a").get("/orgs/acme/members")
    client = make_client(cache=cache, cache_namespace="connector:1:token-b")
    assert client.get("/orgs/acme/members").from_cache is False
    assert "if-none-match" not in server.received[1].headers


def test_pagination_works_when_pages_come_from_the_cache(server, make_client):
    server.route(
        "/orgs/acme/teams",
        Reply(json=["a"], headers={"ETag": '"p1"', "Link": f'<{server.url}/orgs/acme/teams?page=2>; rel="next"'}),
    )
    server.route("/orgs/acme/teams?page=2", Reply(json=["b"], headers={"ETag": '"p2"'}))
    cache = MemoryCache()
    list(make_client(cache=cache, cache_namespace="c").paginate("/orgs/acme/teams"))
    client = make_client(cache=cache, cache_namespace="c")

    pages = list(client.paginate("/orgs/acme/teams"))

    assert [page.data for page in pages] == [["a"], ["b"]]
    assert all(page.from_cache for page in pages)
    assert client.stats.not_modified == 2
    assert server.paths[2:] == ["/orgs/acme/teams", "/orgs/acme/teams?page=2"]


def test_the_django_cache_stores_responses_in_the_http_alias(server, make_client, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "default"},
        "http": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "http-test"},
    }
    server.route("/orgs/acme", Reply(json={"login": "acme"}, headers={"ETag": '"o1"', "X-Other": "volatile"}))
    cache = DjangoCacheResponseCache()
    make_client(cache=cache, cache_namespace="connector:7:abc").get("/orgs/acme")
    client = make_client(cache=cache, cache_namespace="connector:7:abc")

    response = client.get("/orgs/acme")

    assert response.from_cache
    assert response.data == {"login": "acme"}
    assert "x-other" not in response.headers
    assert client.stats.not_modified == 1


def test_settings_define_the_http_cache_alias_on_files_by_default():
    from pipeaccess import settings as project_settings

    if project_settings.REDIS_URL:
        assert project_settings.CACHES["http"]["LOCATION"] == project_settings.REDIS_URL
    else:
        http = project_settings.CACHES["http"]
        assert http["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
        assert http["LOCATION"] == str(project_settings.VAR_DIR / "http-cache")
        assert http["OPTIONS"] == {"MAX_ENTRIES": 2_000_000}


# --- retries ------------------------------------------------------------------------


def test_it_retries_server_errors_then_succeeds(server, make_client, fake_time):
    server.route("/orgs/acme", Reply(502, body="Bad Gateway"), Reply(503), Reply(json={"login": "acme"}))
    client = make_client(max_retries=3)

    assert client.get("/orgs/acme").data == {"login": "acme"}
    assert client.stats.retries == 2
    assert client.stats.requests == 3
    # Full jitter: each delay lies in [0, 1 s * 2^attempt].
    assert len(fake_time.sleeps) == 2
    assert 0 <= fake_time.sleeps[0] <= 1 and 0 <= fake_time.sleeps[1] <= 2


def test_it_gives_up_after_max_retries_with_a_transient_error(server, make_client):
    server.route("/orgs/acme/repos", Reply(500, json={"message": "Server Error"}))
    client = make_client(max_retries=2)

    with pytest.raises(HttpError) as failed:
        client.get("/orgs/acme/repos", params={"page": 3})

    assert str(failed.value) == "GET /orgs/acme/repos failed after 3 attempts: HTTP 500: Server Error"
    assert failed.value.permanent is False
    assert failed.value.status == 500
    assert len(server.received) == 3


def test_a_truncated_body_is_retried(server, make_client):
    server.route("/orgs/acme", Reply(json={"login": "acme", "pad": "x" * 100}, truncate_to=20), Reply(json={"ok": 1}))
    client = make_client()
    assert client.get("/orgs/acme").data == {"ok": 1}
    assert client.stats.retries == 1


def test_json_that_does_not_parse_is_retried(server, make_client):
    server.route(
        "/orgs/acme",
        Reply(body='{"login": "ac', headers={"Content-Type": "application/json"}),
        Reply(json={"login": "acme"}),
    )
    client = make_client()
    assert client.get("/orgs/acme").data == {"login": "acme"}
    assert client.stats.retries == 1


def test_a_truncated_body_that_never_recovers_fails_with_the_cause(server, make_client):
    server.route("/orgs/acme", Reply(json={"pad": "x" * 100}, truncate_to=10))
    with pytest.raises(ConnectorError) as failed:
        make_client(max_retries=1).get("/orgs/acme")
    assert str(failed.value) == "GET /orgs/acme failed after 2 attempts: response body cut short"
    assert failed.value.permanent is False


def test_a_read_timeout_is_retried(server, make_client):
    server.route("/slow", Reply(json={"late": True}, delay=5), Reply(json={"late": False}))
    client = make_client(timeout=0.2)
    assert client.get("/slow").data == {"late": False}
    assert client.stats.retries == 1


def test_a_connection_that_is_refused_fails_transiently_naming_the_path(make_client):
    client = make_client("http://127.0.0.1:9", max_retries=1)
    with pytest.raises(ConnectorError) as failed:
        client.get("/orgs/acme", params={"token": "not-in-messages"})
    message = str(failed.value)
    assert message.startswith("GET /orgs/acme failed after 2 attempts: ConnectionError: ")
    assert "Connection refused" in message
    assert "not-in-messages" not in message
    assert failed.value.permanent is False


# --- rate limits --------------------------------------------------------------------


def test_a_primary_rate_limit_waits_until_the_reset_time(server, make_client, fake_time):
    limited = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 120)}
    server.route("/orgs/acme", Reply(403, json={"message": "API rate limit exceeded"}, headers=limited), Reply(json={}))
    client = make_client()

    client.get("/orgs/acme")

    assert fake_time.sleeps == [121]
    assert client.stats.rate_limit_waits == 1
    assert client.stats.waited_seconds == 121
    assert client.stats.retries == 0


def test_a_429_primary_rate_limit_is_handled_like_a_403(server, make_client, fake_time):
    limited = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 30)}
    server.route("/orgs/acme", Reply(429, headers=limited), Reply(json={}))
    make_client().get("/orgs/acme")
    assert fake_time.sleeps == [31]


def test_retry_after_is_honoured(server, make_client, fake_time):
    server.route(
        "/orgs/acme", Reply(403, json={"message": "secondary rate limit"}, headers={"Retry-After": "7"}), Reply()
    )
    make_client().get("/orgs/acme")
    assert fake_time.sleeps == [7]


def test_a_secondary_rate_limit_without_headers_waits_a_minute_then_longer(server, make_client, fake_time):
    secondary = Reply(403, json={"message": "You have exceeded a secondary rate limit. Please wait a few minutes."})
    server.route("/orgs/acme", secondary, secondary, Reply(json={}))
    make_client().get("/orgs/acme")
    assert fake_time.sleeps == [60, 120]


def test_gitlab_ratelimit_reset_is_honoured(server, make_client, fake_time):
    server.route(
        "/api/v4/groups",
        Reply(429, body="Retry later", headers={"RateLimit-Remaining": "0", "RateLimit-Reset": str(int(NOW) + 42)}),
        Reply(json=[]),
    )
    client = make_client(f"{server.url}/api/v4")
    client.get("/groups")
    assert fake_time.sleeps == [43]
    assert client.stats.rate_limit_remaining == 0


def test_a_429_without_any_header_backs_off(server, make_client, fake_time):
    server.route("/api/v4/groups", Reply(429, body="Retry later"), Reply(json=[]))
    make_client(f"{server.url}/api/v4").get("/groups")
    assert len(fake_time.sleeps) == 1
    assert 1 <= fake_time.sleeps[0] <= 5


def test_docker_hub_x_retry_after_is_an_epoch(server, make_client, fake_time):
    server.route("/v2/orgs/acme/members", Reply(429, headers={"X-Retry-After": str(int(NOW) + 15)}), Reply(json={}))
    make_client().get("/v2/orgs/acme/members")
    assert fake_time.sleeps == [15]


def test_it_waits_for_the_reset_before_the_next_request_when_nothing_remains(server, make_client, fake_time):
    exhausted = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 30)}
    server.route("/first", Reply(json={}, headers=exhausted))
    server.route("/second", Reply(json={}))
    client = make_client()
    requests_at_sleep = []
    client.sleep = lambda seconds: (requests_at_sleep.append(len(server.received)), fake_time.sleep(seconds))

    client.get("/first")
    client.get("/second")

    assert fake_time.sleeps == [31]
    assert requests_at_sleep == [1]  # waited before sending the second request, not after
    assert server.paths == ["/first", "/second"]


def test_a_wait_longer_than_allowed_fails_without_sleeping(server, make_client, fake_time):
    limited = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 7200)}
    server.route("/orgs/acme", Reply(403, json={"message": "API rate limit exceeded"}, headers=limited))
    client = make_client(max_rate_limit_wait=3600)

    with pytest.raises(ConnectorError) as failed:
        client.get("/orgs/acme")

    assert str(failed.value).startswith("GET /orgs/acme: rate limit resets in 7201 s")
    assert failed.value.permanent is False
    assert fake_time.sleeps == []


def test_rate_limit_headers_are_recorded_in_stats(server, make_client):
    headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4990", "x-ratelimit-used": "10"}
    server.route("/a", Reply(json={}, headers=headers))
    server.route("/b", Reply(json={}, headers={**headers, "x-ratelimit-remaining": "4989"}))
    client = make_client()
    client.get("/a")
    client.get("/b")
    assert (client.stats.rate_limit_limit, client.stats.rate_limit_remaining) == (5000, 4989)
    assert client.stats.rate_limit_used == 2


# --- errors -------------------------------------------------------------------------


def test_401_is_a_permission_problem(server, make_client):
    server.route("/user", Reply(401, json={"message": "Bad credentials"}))
    with pytest.raises(PermissionProblem) as failed:
        make_client().get("/user")
    assert str(failed.value) == "authentication failed (401) for GET /user"
    assert failed.value.permanent


def test_403_is_a_permission_problem_with_the_upstream_message(server, make_client):
    server.route("/orgs/acme/members", Reply(403, json={"message": "Must have admin rights to Repository."}))
    with pytest.raises(PermissionProblem) as failed:
        make_client().get("/orgs/acme/members")
    assert (
        str(failed.value) == "permission denied (403) for GET /orgs/acme/members: Must have admin rights to Repository."
    )


def test_403_for_saml_sso_says_so(server, make_client):
    server.route(
        "/orgs/acme/members",
        Reply(
            403,
            json={"message": "Resource protected by organization SAML enforcement."},
            headers={"X-GitHub-SSO": "required; url=https://github.com/orgs/acme/sso?authorization_request=X"},
        ),
    )
    with pytest.raises(PermissionProblem, match="X-GitHub-SSO"):
        make_client().get("/orgs/acme/members")


def test_404_is_an_http_error_carrying_the_response(server, make_client):
    server.route("/orgs/ghost", Reply(404, json={"message": "Not Found"}))
    with pytest.raises(HttpError) as failed:
        make_client().get("/orgs/ghost")
    assert failed.value.status == 404
    assert failed.value.permanent
    assert failed.value.response.data == {"message": "Not Found"}
    assert str(failed.value) == "HTTP 404 for GET /orgs/ghost: Not Found"


def test_statuses_listed_as_ok_are_returned(server, make_client):
    server.route("/orgs/acme/memberships/octocat", Reply(404, json={"message": "Not Found"}))
    response = make_client().request("GET", "/orgs/acme/memberships/octocat", ok=(200, 404))
    assert response.status == 404


def test_the_token_never_appears_in_errors_or_logs(server, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    # An upstream that echoes the credentials back, as some misconfigured proxies do.
    server.route("/echo", Reply(403, json={"message": f"token Bearer {TOKEN} is not allowed"}))
    server.route("/flaky", Reply(500, json={"message": f"boom {TOKEN}"}))
    client = make_client(headers={"Authorization": f"Bearer {TOKEN}"}, max_retries=1)
    errors = []
    for path in ("/echo", "/flaky", "/missing"):
        with pytest.raises(ConnectorError) as failed:
            client.get(path)
        errors.append(str(failed.value))

    assert server.received[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert errors[0] == f"permission denied (403) for GET /echo: token {MASK} is not allowed"
    assert all(TOKEN not in error for error in errors)
    assert "retry 1 of 1" in caplog.text  # the retry was logged...
    assert TOKEN not in caplog.text  # ...without the token
    assert redact(f"x {TOKEN} y") == f"x {MASK} y"


def test_credentials_are_dropped_when_a_redirect_changes_host(server, make_client):
    hosts = {"api.example.test": ["127.0.0.1"], "objects.example.test": ["127.0.0.1"]}
    server.route("/download", Reply(302, headers={"Location": f"http://objects.example.test:{server.port}/blob"}))
    server.route("/blob", Reply(json={"ok": True}))
    client = make_client(
        f"http://api.example.test:{server.port}",
        headers={"Authorization": f"Bearer {TOKEN}", "PRIVATE-TOKEN": TOKEN, "Accept": "application/json"},
        resolve=lambda host, port: hosts[host],
    )

    assert client.get("/download").data == {"ok": True}

    first, second = server.received
    assert first.headers["authorization"] == f"Bearer {TOKEN}" and first.headers["private-token"] == TOKEN
    assert "authorization" not in second.headers and "private-token" not in second.headers
    assert second.headers["accept"] == "application/json"


def test_a_redirect_on_the_same_host_keeps_method_body_and_credentials(server, make_client):
    server.route("/old", Reply(307, headers={"Location": "/new"}), method="POST")
    server.route("/new", Reply(201, json={"id": 1}), method="POST")
    client = make_client(headers={"Authorization": f"Bearer {TOKEN}"})

    response = client.request("POST", "/old", json={"role": "member"})

    assert response.status == 201
    assert [(r.method, r.path, r.body) for r in server.received] == [
        ("POST", "/old", b'{"role": "member"}'),
        ("POST", "/new", b'{"role": "member"}'),
    ]
    assert server.received[1].headers["authorization"] == f"Bearer {TOKEN}"


def test_more_than_five_redirects_fail(server, make_client):
    server.route("/loop", Reply(302, headers={"Location": "/loop"}))
    with pytest.raises(ConnectorError, match="more than 5 redirects") as failed:
        make_client().get("/loop")
    assert failed.value.permanent
    assert len(server.received) == 6


# --- TLS ----------------------------------------------------------------------------


def test_tls_verifies_the_certificate_against_the_host_name_not_the_address(tmp_path, make_client):
    import ssl

    ca, cert, key = tls_files(tmp_path, "ghe.example.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    sni = []
    context.sni_callback = lambda sock, name, ctx: sni.append(name)
    resolve = {"ghe.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]}
    with ScriptedServer(tls=context) as tls_server:
        tls_server.route("/api/v3/meta", Reply(json={"verifiable_password_authentication": False}))
        good = make_client(f"https://ghe.example.test:{tls_server.port}/api/v3", resolve=resolve.get)
        good.session.verify = str(ca)
        assert good.get("/meta").data == {"verifiable_password_authentication": False}

        wrong_name = make_client(f"https://other.example.test:{tls_server.port}/api/v3", resolve=resolve.get)
        wrong_name.session.verify = str(ca)
        with pytest.raises(ConnectorError) as failed:
            wrong_name.get("/meta")

    assert sni[0] == "ghe.example.test"
    assert failed.value.permanent
    assert str(failed.value).startswith("GET /api/v3/meta: SSLError: [SSL: CERTIFICATE_VERIFY_FAILED]")
    assert "not valid for 'other.example.test'" in str(failed.value)
    assert len(tls_server.received) == 1


# --- concurrency --------------------------------------------------------------------


def test_imap_keeps_input_order_and_bounds_concurrency(server, make_client):
    for n in range(12):
        # Later items answer faster, so completion order differs from input order.
        server.route(f"/repos/{n}", Reply(json={"n": n}, delay=0.02 * (12 - n) / 4))
    client = make_client(max_concurrency=3)

    results = list(client.imap(lambda n: client.get(f"/repos/{n}").data["n"], range(12)))

    assert results == list(range(12))
    assert server.max_active == 3


def test_imap_reraises_the_first_failure_and_cancels_the_rest(server, make_client):
    for n in range(100):
        server.route(f"/repos/{n}", Reply(json={}, delay=0.3))
    server.route("/repos/1", Reply(404, json={"message": "Not Found"}))
    started = []

    def read(n):
        started.append(n)
        return client.get(f"/repos/{n}")

    client = make_client(max_concurrency=2)
    # Item 1 fails while item 0 is still running.
    with pytest.raises(HttpError, match="HTTP 404 for GET /repos/1"):
        list(client.imap(read, range(100)))
    # At most 2 x max_concurrency items were ever submitted, and none after the failure.
    assert 1 in started
    assert max(started) <= 3
