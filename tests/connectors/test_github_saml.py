"""SAML identities as sso_id on GitHub accounts (option saml=true), read over GraphQL from the simulator."""

import pytest

from connectors.base import ConfigurationError, ConnectorConfig, ConnectorError, PermissionProblem
from connectors.models import Account
from connectors.providers.github import GitHubConnector
from connectors.providers.github_saml import extract_sso_id, graphql_url
from connectors.simulators.github import GitHubOrg, GitHubSimulator, Token
from connectors.sync import run_sync
from tests.connectors.helpers import add_simulated_connector, attach_http, sync_factory
from tests.connectors.test_github_connector import OWNER_TOKEN, connector, fetch, small_org
from tests.fakes import FakeTime


def saml_connector(api_url: str, **options) -> GitHubConnector:
    config = ConnectorConfig(
        name="github-saml",
        api_url=api_url,
        options={"org": "acme", "saml": "true"} | options,
        secret=lambda key: OWNER_TOKEN,
        allow_private_network=True,
    )
    return attach_http(GitHubConnector(config, http=None), api_url)


def saml_org() -> GitHubOrg:
    org = small_org()
    org.add_saml_identity("ada", "Ada.Lovelace@Example.COM")
    org.add_saml_identity("carl", "carl-gauss", emails=["Carl.Gauss@example.com"])  # NameID is not an email
    org.add_saml_identity(None, "nobody@example.com")  # never linked to a GitHub user
    return org


@pytest.fixture
def sim():
    with GitHubSimulator(saml_org(), tokens={OWNER_TOKEN: Token("olivia")}) as simulator:
        yield simulator


def graphql_requests(sim) -> list:
    return [entry for entry in sim.requests if entry.method == "POST"]


def test_members_carry_their_saml_identity_lower_cased_as_sso_id(sim):
    accounts = fetch(saml_connector(f"{sim.url}/api/v3")).accounts
    assert accounts["ada"].attributes["sso_id"] == "ada.lovelace@example.com"
    assert accounts["carl"].attributes["sso_id"] == "carl.gauss@example.com"  # the email-like value wins
    assert "sso_id" not in accounts["max"].attributes  # no identity linked
    assert [(e.path, e.prefix) for e in graphql_requests(sim)] == [("/api/graphql", "")]


def test_without_the_option_nothing_is_asked_and_no_account_has_an_sso_id(sim):
    accounts = fetch(connector(sim.url)).accounts
    assert not any("sso_id" in account.attributes for account in accounts.values())
    assert graphql_requests(sim) == []


def test_identities_are_read_page_by_page():
    org = GitHubOrg.generate("acme", seed=5, members=260, teams=3, repos=4, saml=True)
    with GitHubSimulator(org, tokens={OWNER_TOKEN: Token(org.owner_login)}) as sim:
        accounts = fetch(saml_connector(sim.url)).accounts
        pages = graphql_requests(sim)
    linked = {identity.login: identity.name_id.lower() for identity in org.external_identities if identity.login}
    assert len(linked) > 200
    assert {login: accounts[login].attributes.get("sso_id") for login in linked} == linked
    assert len(pages) == len(org.external_identities) // 100 + 1


def test_a_graphql_error_fails_the_read_and_says_what_github_answered(sim):
    sim.fail_graphql("INTERNAL", "Something went wrong while executing your query.")
    with pytest.raises(ConnectorError, match="Something went wrong") as raised:
        fetch(saml_connector(sim.url))
    assert raised.value.permanent is True
    sim.fail_graphql("RATE_LIMITED", "API rate limit exceeded for user ID 1.")
    with pytest.raises(ConnectorError) as limited:
        fetch(saml_connector(sim.url))
    assert limited.value.permanent is False


def test_a_refused_query_is_a_permission_problem(sim):
    sim.fail_graphql("FORBIDDEN", "Resource not accessible by integration")
    with pytest.raises(PermissionProblem, match="read:org"):
        fetch(saml_connector(sim.url))


def test_an_org_without_saml_is_reported_clearly():
    with GitHubSimulator(small_org(), tokens={OWNER_TOKEN: Token("olivia")}) as sim:
        with pytest.raises(PermissionProblem, match="no SAML identity provider") as raised:
            fetch(saml_connector(sim.url))
    assert "remove saml=true" in str(raised.value)


def test_the_saml_option_is_true_or_false():
    GitHubConnector.validate_options({"org": "acme", "saml": "false"})
    with pytest.raises(ConfigurationError, match="saml="):
        GitHubConnector.validate_options({"org": "acme", "saml": "yes"})


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        ("https://api.github.com", "https://api.github.com/graphql"),
        ("https://api.acme.ghe.com", "https://api.acme.ghe.com/graphql"),
        ("https://github.example.com/api/v3", "https://github.example.com/api/graphql"),
    ],
)
def test_the_graphql_endpoint_follows_the_rest_base(api_url, expected):
    assert graphql_url(api_url) == expected


def test_the_sso_id_prefers_an_email_like_value():
    assert extract_sso_id({"samlIdentity": {"nameId": " Bo@Example.com "}}) == "bo@example.com"
    assert extract_sso_id({"samlIdentity": {"nameId": "bo"}, "scimIdentity": {"username": "BO@x.io"}}) == "bo@x.io"
    assert extract_sso_id({"samlIdentity": {"nameId": "bo"}}) == "bo"
    assert extract_sso_id({"samlIdentity": None, "scimIdentity": None}) is None


@pytest.mark.django_db
def test_a_sync_stores_the_sso_id_on_the_account(sim, monkeypatch):
    conn = add_simulated_connector(
        monkeypatch,
        name="gh",
        kind="github",
        base_url=sim.url,
        token_env="GH_SAML_TOKEN",
        token=OWNER_TOKEN,
        org="acme",
        saml="true",
    )
    run = run_sync(conn, connector_factory=sync_factory(FakeTime(1_800_000_000.0)))
    assert run.status == "succeeded", run.error
    assert Account.objects.get(connector=conn, login="ada").attributes["sso_id"] == "ada.lovelace@example.com"


def test_the_connection_test_checks_the_saml_identities_too(sim):
    assert saml_connector(sim.url).test().endswith("; 2 members have a SAML identity")
    sim.fail_graphql("FORBIDDEN", "Resource not accessible")
    with pytest.raises(PermissionProblem):
        saml_connector(sim.url).test()
