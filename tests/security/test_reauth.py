"""Recent authentication before a connector's URL or secret changes (connectors.views, pipeaccess.ui).

A stolen or forgotten session must not be enough to point a connector, and the admin token it sends, at another
host. Adding a connector, changing its base URL, its secret references or private-network access, and testing a
connection with such changes need a sign-in (or re-authentication) in the last ACCOUNT_REAUTHENTICATION_TIMEOUT
seconds (5 minutes). Otherwise nothing is applied or kept, and the user confirms on allauth's page and submits
again. The schedule, dry run and other options need no re-authentication: they cannot send a token elsewhere.
The CLI (`manage.py connector`) is exempt: shell access is more than any session.
"""

import pytest
from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
from django.urls import reverse

from connectors.models import Connector
from reviews.models import AuditEvent
from tests.connectors.helpers import add_simulated_connector
from tests.mfa import sign_in, totp_code
from tests.views.conftest import github_org, github_sim  # noqa: F401

pytestmark = pytest.mark.django_db

EDIT = "/connectors/gh/edit/"
REAUTHENTICATE = "/accounts/reauthenticate/"


@pytest.fixture
def connector(github_sim, monkeypatch):  # noqa: F811
    return add_simulated_connector(
        monkeypatch,
        name="gh",
        kind="github",
        base_url=github_sim.url,
        token_env="RA_TOKEN",
        token=github_sim.token,
        org="acme",
    )


@pytest.fixture
def signed_in(client, security_user, user_password):
    """Alice, signed in through the forms (password and authenticator code) just now."""
    sign_in(client, security_user, user_password)
    return client


def age_sign_in(client, seconds: float) -> None:
    """Move every authentication this session recorded `seconds` into the past, as if time had gone by."""
    session = client.session
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {**record, "at": record["at"] - seconds} for record in session[AUTHENTICATION_METHODS_SESSION_KEY]
    ]
    session.save()


def settings_form(connector, **changes) -> dict:
    data = {
        "base_url": connector.base_url,
        "options": "org=acme\nallow_private_network=true",
        "secrets": "token=env:RA_TOKEN",
        "sync_interval_minutes": "",
        "dry_run": "on",
    }
    data.update(changes)
    return data


def refusals() -> list[AuditEvent]:
    events = AuditEvent.objects.filter(action="auth.access_denied").order_by("seq")
    return [e for e in events if e.data.get("reason") == "re-authentication required"]


ELSEWHERE = "https://collector.example.net"


def test_a_fresh_sign_in_changes_the_url(signed_in, connector):
    """ASVS 5.0 V7.5.3 (re-authentication before highly sensitive operations): within five minutes of signing in
    the change goes through, and is audited."""
    response = signed_in.post(EDIT, settings_form(connector, base_url=ELSEWHERE))
    assert response["Location"] == "/connectors/gh/"
    connector.refresh_from_db()
    assert connector.base_url == ELSEWHERE
    event = AuditEvent.objects.get(action="connector.updated")
    assert event.data["changed"]["base_url"]["to"] == ELSEWHERE
    assert not refusals()


@pytest.mark.parametrize(
    "change",
    [
        {"base_url": ELSEWHERE},
        {"secrets": "token=env:OTHER_TOKEN"},
        {"secrets": "token=file:/etc/shadow"},
        {"options": "org=acme"},  # private-network access switched off is a destination change too
    ],
    ids=["url", "env-reference", "file-reference", "private-network"],
)
def test_a_stale_session_cannot_change_where_the_token_goes(signed_in, connector, change):
    """ASVS 5.0 V7.5.3, V16.3.2 (refusals logged): six minutes after the sign-in the change is refused, sent to
    re-authenticate, nothing is applied and the refusal is audited."""
    before = Connector.objects.values().get(pk=connector.pk)
    age_sign_in(signed_in, 6 * 60)
    response = signed_in.post(EDIT, settings_form(connector, **change))
    assert response["Location"] == f"{REAUTHENTICATE}?next=%2Fconnectors%2Fgh%2Fedit%2F"
    assert Connector.objects.values().get(pk=connector.pk) == before
    assert not AuditEvent.objects.filter(action="connector.updated").exists()
    (refused,) = refusals()
    assert refused.data["method"] == "POST" and refused.data["path"] == EDIT
    page = signed_in.get(response["Location"]).content.decode()
    assert "needs a recent sign-in" in page and "nothing was saved" in page


def test_a_session_not_made_by_a_login_is_not_recent(client, security_user, connector):
    """ASVS 5.0 V7.5.3: a session without a recorded authentication (here force_login) counts as stale."""
    client.force_login(security_user)
    response = client.post(EDIT, settings_form(connector, base_url=ELSEWHERE))
    assert response["Location"].startswith(REAUTHENTICATE)
    connector.refresh_from_db()
    assert connector.base_url != ELSEWHERE


def test_the_pending_change_is_not_kept_anywhere(signed_in, connector):
    """ASVS 5.0 V7.5.3, V14.2.4 (secrets handled by their protection level): the refused form (which may hold a
    secret reference or token) is not stashed in the session to be replayed; the user submits again."""
    age_sign_in(signed_in, 6 * 60)
    signed_in.post(EDIT, settings_form(connector, secrets="token=env:ATTACKER_TOKEN_NAME"))
    stored = "".join(str(value) for value in signed_in.session.values())
    assert "ATTACKER_TOKEN_NAME" not in stored


def test_after_re_authenticating_with_the_password_the_change_goes_through(signed_in, connector, user_password):
    """ASVS 5.0 V7.5.3, V7.2.4 (new session token on re-authentication): the password brings the user back to the
    form, in a new session, and the second submission is applied."""
    age_sign_in(signed_in, 6 * 60)
    reauth = signed_in.post(EDIT, settings_form(connector, base_url=ELSEWHERE))["Location"]
    old_key = signed_in.session.session_key
    response = signed_in.post(reauth, {"password": user_password})
    assert response["Location"] == EDIT
    assert signed_in.session.session_key != old_key
    assert signed_in.post(EDIT, settings_form(connector, base_url=ELSEWHERE))["Location"] == "/connectors/gh/"
    connector.refresh_from_db()
    assert connector.base_url == ELSEWHERE


def test_a_wrong_password_does_not_count(signed_in, connector):
    """ASVS 5.0 V7.5.3: a failed re-authentication leaves the session stale."""
    age_sign_in(signed_in, 6 * 60)
    reauth = signed_in.post(EDIT, settings_form(connector, base_url=ELSEWHERE))["Location"]
    signed_in.post(reauth, {"password": "not-the-password"})
    assert signed_in.post(EDIT, settings_form(connector, base_url=ELSEWHERE))["Location"].startswith(REAUTHENTICATE)
    connector.refresh_from_db()
    assert connector.base_url != ELSEWHERE


def test_the_authenticator_code_re_authenticates_too(signed_in, connector, settings):
    """ASVS 5.0 V7.5.3, V7.2.4: allauth's other way to confirm (the authenticator app) is accepted as well, and
    also gives a new session id."""
    # The sign-in used this period's code (usable once): the next period's, accepted one step either side.
    settings.MFA_TOTP_TOLERANCE = 1
    age_sign_in(signed_in, 6 * 60)
    old_key = signed_in.session.session_key
    response = signed_in.post(reverse("mfa_reauthenticate") + f"?next={EDIT}", {"code": totp_code(steps=1)})
    assert response["Location"] == EDIT
    assert signed_in.session.session_key != old_key
    assert signed_in.post(EDIT, settings_form(connector, base_url=ELSEWHERE))["Location"] == "/connectors/gh/"


def test_schedule_and_dry_run_need_no_re_authentication(signed_in, connector):
    """ASVS 5.0 V7.5.3 is for what can send the token elsewhere; a stale session still changes the schedule."""
    age_sign_in(signed_in, 60 * 60)
    form = settings_form(connector, sync_interval_minutes="30")
    del form["dry_run"]
    assert signed_in.post(EDIT, form)["Location"] == "/connectors/gh/"
    connector.refresh_from_db()
    assert connector.sync_interval.total_seconds() == 1800 and connector.dry_run is False
    assert not refusals()


def test_a_stale_session_cannot_add_a_connector(signed_in, github_sim, monkeypatch):  # noqa: F811
    """ASVS 5.0 V7.5.3: adding a connector gives PipeAccess a secret and a place to send it: recent sign-in only."""
    monkeypatch.setenv("RA_TOKEN", github_sim.token)
    form = {
        "name": "new-gh",
        "kind": "github",
        "base_url": github_sim.url,
        "options": "org=acme\nallow_private_network=true",
        "secrets": "token=env:RA_TOKEN",
        "dry_run": "on",
    }
    age_sign_in(signed_in, 6 * 60)
    response = signed_in.post("/connectors/add/", form)
    assert response["Location"] == f"{REAUTHENTICATE}?next=%2Fconnectors%2Fadd%2F"
    assert not Connector.objects.filter(name="new-gh").exists()
    age_sign_in(signed_in, -6 * 60)  # back to a fresh sign-in
    assert signed_in.post("/connectors/add/", form)["Location"] == "/connectors/new-gh/"


def test_a_stale_session_cannot_test_the_token_against_another_url(signed_in, connector, github_sim):  # noqa: F811
    """ASVS 5.0 V7.5.3, V1.3.6 (SSRF): "test connection" with a changed URL would send the saved token there; from a
    stale session the test is refused before any request leaves (the simulator sees none)."""
    moved = settings_form(connector, base_url=github_sim.url + "/moved")
    url = reverse("connectors:test_existing", kwargs={"name": "gh"})
    github_sim.requests.clear()
    age_sign_in(signed_in, 6 * 60)
    response = signed_in.post(url, moved, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"{REAUTHENTICATE}?next=%2Fconnectors%2Fgh%2Fedit%2F"
    assert not github_sim.requests
    age_sign_in(signed_in, -6 * 60)
    signed_in.post(url, moved, HTTP_HX_REQUEST="true")
    assert github_sim.requests  # the same test from a fresh session does call out


def test_testing_the_saved_settings_needs_no_re_authentication(signed_in, connector, github_sim):  # noqa: F811
    """ASVS 5.0 V7.5.3: testing the connector as saved sends the token nowhere new."""
    age_sign_in(signed_in, 60 * 60)
    url = reverse("connectors:test_existing", kwargs={"name": "gh"})
    html = signed_in.post(url, settings_form(connector), HTTP_HX_REQUEST="true").content.decode()
    assert "Connection works" in html
