"""The authorization matrix: every URL of the resolver, who may GET and POST it, and how to build it.

ACCESS maps a URL name to (who may GET, who may POST). Roles: anonymous, none (employee without a role),
reviewer_a and reviewer_b (items in the same campaign), subject (a reviewer who is the subject of items and
reviews none), auditor, security (with its required TOTP authenticator) and security_no_mfa (the security role
without one: held back from every URL here until it enrols, pipeaccess.mfa). Item URLs are built with reviewer
B's item, so reviewer A and the subject are asking for somebody else's object. "405" means the method is not
allowed for anybody.
"""

from django.db.models import Count
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from connectors.models import Account, Connector, Grant, Identity, SyncRun
from reviews.models import AuditEvent, Campaign, CampaignTemplate, Decision, OutboundMail, ReviewItem, Revocation

ROLES = ("anonymous", "none", "reviewer_a", "reviewer_b", "subject", "auditor", "security", "security_no_mfa")
# Allowed nowhere in the table: every page sends it to the two-factor setup, every API call gets 403.
HELD_BACK = "security_no_mfa"
NOBODY: frozenset = frozenset()
SEC = frozenset({"security"})
READERS = frozenset({"security", "auditor"})
SIGNED_IN = frozenset(ROLES) - {"anonymous", HELD_BACK}
B = frozenset({"reviewer_b"})
A_AND_B = frozenset({"reviewer_a", "reviewer_b"})
METHOD_NOT_ALLOWED = "405"

READ = (READERS, NOBODY)
FORM = (SEC, SEC)
ACTION = (METHOD_NOT_ALLOWED, SEC)

ACCESS = {
    "home": (SIGNED_IN, METHOD_NOT_ALLOWED),
    # Reviewers
    "reviews:my_reviews": (SIGNED_IN, METHOD_NOT_ALLOWED),
    "reviews:review": (A_AND_B, METHOD_NOT_ALLOWED),
    "reviews:bulk": (METHOD_NOT_ALLOWED, A_AND_B),
    "reviews:sign_off": (METHOD_NOT_ALLOWED, A_AND_B),
    "reviews:item": (B, METHOD_NOT_ALLOWED),
    "reviews:decide": (METHOD_NOT_ALLOWED, B),
    "reviews:undo": (METHOD_NOT_ALLOWED, B),
    "reviews:comment": (METHOD_NOT_ALLOWED, B),
    # Campaigns and templates (security; auditors read)
    "reviews:campaigns": READ,
    "reviews:campaign_detail": READ,
    "reviews:reassign": ACTION,
    "reviews:close": ACTION,
    "reviews:templates": READ,
    "reviews:template_create": FORM,
    "reviews:template_preview": (METHOD_NOT_ALLOWED, READERS),  # a read: counts only
    "reviews:template_edit": (READERS, SEC),
    "reviews:launch": ACTION,
    # Connectors, inventory, ops (tests/views/test_ops_access_matrix.py has the same table)
    "connectors:list": READ,
    "connectors:detail": READ,
    "connectors:run": READ,
    "connectors:add": FORM,
    "connectors:edit": FORM,
    "connectors:test": ACTION,
    "connectors:test_existing": ACTION,
    "connectors:sync": ACTION,
    "connectors:run_confirm": ACTION,
    "connectors:run_discard": ACTION,
    "inventory:accounts": READ,
    "inventory:account": READ,
    "inventory:people": READ,
    "inventory:person": READ,
    "inventory:resources": READ,
    "inventory:resource": READ,
    "inventory:changes": READ,
    "ops:audit": READ,
    "ops:audit_export": READ,
    "ops:revocations": READ,
    "ops:revocation": READ,
    "ops:revocation_approve": ACTION,
    "ops:revocation_retry": ACTION,
    "ops:revocation_narrow": ACTION,
    "ops:revocation_close": ACTION,
    "ops:revocation_cancel": ACTION,
    "ops:mails": READ,
    "ops:mail_resend": ACTION,
    "ops:mail_settings": READ,
    "ops:mail_settings_save": ACTION,
    # Reports and exports: the security team and auditors only
    "reports:index": READ,
    "reports:campaign": READ,
    "reports:campaign_download": READ,
    "reports:campaign_evidence": READ,
    "reports:inventory": READ,
    "reports:inventory_download": READ,
    # REST API
    "api:api-root": (SIGNED_IN, METHOD_NOT_ALLOWED),
    "api:schema": (SIGNED_IN, METHOD_NOT_ALLOWED),
    "api:docs": (SIGNED_IN, METHOD_NOT_ALLOWED),
    "api:report_campaign": READ,
    "api:report_changes": READ,
    "api:report_access_at": READ,
    "api:report_inventory": READ,
    "api:connector-list": READ,
    "api:connector-detail": READ,
    "api:syncrun-list": READ,
    "api:syncrun-detail": READ,
    "api:account-list": READ,
    "api:account-detail": READ,
    "api:identity-list": READ,
    "api:identity-detail": READ,
    "api:resource-list": READ,
    "api:resource-detail": READ,
    "api:grant-list": READ,
    "api:grant-detail": READ,
    "api:campaign-list": (SIGNED_IN, METHOD_NOT_ALLOWED),
    "api:campaign-detail": (READERS | A_AND_B, METHOD_NOT_ALLOWED),
    "api:campaign-close": (METHOD_NOT_ALLOWED, SEC),
    "api:campaign-items": (READERS | A_AND_B, METHOD_NOT_ALLOWED),
    "api:item-detail": (READERS | B, METHOD_NOT_ALLOWED),
    "api:item-decision": (METHOD_NOT_ALLOWED, B),
    "api:item-history": (READERS | B, METHOD_NOT_ALLOWED),
    "api:revocation-list": READ,
    "api:revocation-detail": READ,
    "api:auditevent-list": READ,
    "api:auditevent-detail": READ,
}

# allauth's pages are the login machinery: not in the role matrix; those that change state are POSTed
# by the CSRF test. Django's admin has its own staff check (nobody here is staff).
SKIPPED_NAMESPACES = {"admin"}
ALLAUTH_STATE_CHANGING = (
    "account_login",
    "account_logout",
    "account_signup",
    "account_email",
    "account_change_password",
    "account_set_password",
    "account_reset_password",
    "account_reauthenticate",
    "mfa_activate_totp",
    "mfa_deactivate_totp",
    "mfa_generate_recovery_codes",
)


def routes(resolver=None, namespace=""):
    """(name, pattern) of every named URL, once per name (format-suffix variants share the first's name)."""
    resolver = resolver or get_resolver()
    seen = set()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            if ns in SKIPPED_NAMESPACES:
                continue
            for name, pattern in routes(entry, ns):
                if name not in seen:
                    seen.add(name)
                    yield name, pattern
        elif isinstance(entry, URLPattern) and entry.name:
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            if name not in seen and "format" not in entry.pattern.regex.groupindex:
                seen.add(name)
                yield name, entry


def is_allauth(name: str) -> bool:
    return name.startswith(("account_", "mfa_"))


def matrix_routes():
    return [(name, pattern) for name, pattern in routes() if not is_allauth(name)]


def url_for(name: str, pattern, world) -> str:
    item_b = world["item_b"]
    params = set(pattern.pattern.regex.groupindex) | set(getattr(pattern.pattern, "converters", {}))
    kwargs = {}
    for key in params:
        if key == "name":
            kwargs[key] = world["connector"].name
        elif key == "run_id":
            kwargs[key] = world["run"].pk
        elif key == "item_pk":
            kwargs[key] = item_b.pk
        elif key == "fmt":
            kwargs[key] = "csv"
        elif key == "kind":
            kwargs[key] = "admins"
        elif key == "seq":
            kwargs[key] = AuditEvent.objects.order_by("seq").first().seq
        elif key == "pk":
            kwargs[key] = _pk(name, world)
    url = reverse(name, kwargs=kwargs)
    return url + QUERY.get(name, "")


# Reports that need parameters to answer 200 (without them: 400, still after the role check).
QUERY = {
    "api:report_changes": "?since=2020-01-01T00:00:00Z&until=2100-01-01T00:00:00Z",
    "api:report_access_at": "?resource=acme-gh:acme/r1",
}


def _pk(name: str, world) -> int:
    short = name.split(":")[1]
    if short.startswith("item-"):
        return world["item_b"].pk
    if short.startswith("template") or short == "launch":
        return world["campaign"].template_id
    if short.startswith("revocation"):
        return world["rev"].pk
    if short.startswith("mail"):
        return world["mail"].pk
    if short in {"account", "account-detail"}:
        return world["account"].pk
    if short in {"person", "identity-detail"}:
        return world["person"].pk
    if short in {"resource", "resource-detail"}:
        return world["resource"].pk
    if short == "connector-detail":
        return world["connector"].pk
    if short == "syncrun-detail":
        return world["run"].pk
    if short == "grant-detail":
        return Grant.objects.current().first().pk
    return world["campaign"].pk


def snapshot(*, reads_recorded: bool = False) -> dict:
    """Row counts of the main tables by state, the item versions, and the audit chain minus auth events
    (and minus the records of exports, `*.exported`, when reads_recorded: taking a report is recorded)."""
    audit = AuditEvent.objects.exclude(action__startswith="auth.")
    if reads_recorded:
        audit = audit.exclude(action__endswith="exported")
    return {
        "items": list(ReviewItem.objects.values_list("pk", "state", "version").order_by("pk")),
        "decisions": Decision.objects.count(),
        "campaigns": list(Campaign.objects.values_list("pk", "state").order_by("pk")),
        "templates": CampaignTemplate.objects.count(),
        "revocations": list(Revocation.objects.values_list("pk", "state").order_by("pk")),
        "mails": list(OutboundMail.objects.values("state").annotate(n=Count("pk")).order_by("state")),
        "connectors": list(Connector.objects.values_list("pk", "base_url", "enabled").order_by("pk")),
        "runs": SyncRun.objects.count(),
        "accounts": Account.objects.count(),
        "people": Identity.objects.count(),
        "audit": audit.count(),
    }


def denials() -> int:
    return AuditEvent.objects.filter(action="auth.access_denied").count()
