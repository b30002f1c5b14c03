"""Forms of the review pages: the item filter, a decision, bulk decisions, and campaign templates.

The template form does not save anything itself: it turns its fields into the document
`campaign template apply` reads (CONTRACT.md), and reviews.campaigns.apply_templates validates
and writes it, so the browser and config-as-code share one set of rules.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from connectors.choices import AccountType, Level

from .choices import Change, OnTimeout
from .models import NotificationSettings

PER_PAGE_CHOICES = (25, 50, 100, 200)
LEVEL_CHOICES = [(level.label, level.label) for level in Level]


def risk_signals() -> dict[str, str]:
    """code -> label of every risk signal connectors.risk knows ({} until it defines SIGNALS)."""
    from connectors import risk

    signals = getattr(risk, "SIGNALS", None) or {}
    labels = {}
    for code, value in signals.items():
        label = value[1] if isinstance(value, tuple | list) and len(value) > 1 else getattr(value, "label", code)
        labels[code] = str(label)
    return labels


class ItemFilterForm(forms.Form):
    """What the review page shows: GET parameters, all optional; bad values fall back to the default."""

    group = forms.ChoiceField(
        choices=[("person", "person"), ("resource", "resource")], required=False, label="Group by"
    )
    connector = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="System")
    level = forms.ChoiceField(choices=[("", "any level"), *LEVEL_CHOICES], required=False, label="Level")
    risk = forms.ChoiceField(required=False, label="Risk signal")
    change = forms.ChoiceField(choices=[("", "any change"), *Change.choices], required=False, label="Change")
    state = forms.ChoiceField(
        choices=[("", "all items"), ("pending", "undecided"), ("decided", "decided")], required=False, label="Show"
    )
    q = forms.CharField(required=False, max_length=200, label="Search")
    per_page = forms.TypedChoiceField(
        coerce=int, choices=[(n, n) for n in PER_PAGE_CHOICES], required=False, empty_value=50, label="Per page"
    )

    # The parameters that select items (paging and grouping aside): bulk "select all" re-applies them.
    SELECTING = ("connector", "level", "risk", "change", "state", "q")

    def __init__(self, data=None, *, connectors=(), signals=None, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["connector"].choices = [("", "all systems"), *((c_id, name) for c_id, name in connectors)]
        signals = risk_signals() if signals is None else signals
        self.fields["risk"].choices = [("", "any risk"), *sorted(signals.items(), key=lambda kv: kv[1])]

    def values(self) -> dict:
        """Cleaned values, with invalid ones dropped (a stale link must not break the page)."""
        if self.is_bound:
            self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        return {name: cleaned.get(name) for name in self.fields}

    def apply(self, items: QuerySet) -> QuerySet:
        v = self.values()
        if v["connector"]:
            items = items.filter(connector_id=v["connector"])
        if v["level"]:
            items = items.filter(level=Level.from_name(v["level"]))
        if v["risk"]:
            items = items.filter(risk_codes__contains=f",{v['risk']},")
        if v["change"]:
            items = items.filter(change=v["change"])
        if v["state"] == "pending":
            items = items.filter(state="pending")
        elif v["state"] == "decided":
            items = items.exclude(state="pending")
        for word in (v["q"] or "").split()[:8]:
            items = items.filter(
                Q(holder_label__icontains=word)
                | Q(resource_path__icontains=word)
                | Q(permission__icontains=word)
                | Q(via__icontains=word)
                | Q(effect__icontains=word)
                | Q(subject__email__icontains=word)
                | Q(subject__name__icontains=word)
            )
        return items

    def active(self) -> bool:
        v = self.values()
        return any(v[name] for name in self.SELECTING)


class DecisionForm(forms.Form):
    """One decision on one item, as the row's buttons post it."""

    decision = forms.ChoiceField(
        choices=[(d, d) for d in ("approve", "revoke", "downgrade", "delegate")],
        error_messages={"required": "Choose approve, revoke, downgrade or delegate."},
    )
    level = forms.ChoiceField(choices=[("", "—"), *LEVEL_CHOICES], required=False)
    to = forms.EmailField(required=False, max_length=254)
    justification = forms.CharField(required=False, max_length=4000, strip=True)
    version = forms.IntegerField(required=False, min_value=0)

    def clean(self):
        data = super().clean()
        if data.get("decision") == "downgrade" and not data.get("level"):
            raise ValidationError("Choose the level to downgrade to.")
        if data.get("decision") == "delegate" and not data.get("to"):
            raise ValidationError("Give the email address of the person to delegate to.")
        return data

    def first_error(self) -> str:
        for errors in self.errors.values():
            return str(errors[0])
        return "The decision could not be read."


class CommentForm(forms.Form):
    text = forms.CharField(max_length=4000, strip=True, error_messages={"required": "Write a comment first."})


class BulkDecisionForm(forms.Form):
    """A decision for the ticked items, or for every item matching the page's filter (select_all)."""

    decision = forms.ChoiceField(choices=[(d, d) for d in ("approve", "revoke", "downgrade")])
    level = forms.ChoiceField(choices=[("", "—"), *LEVEL_CHOICES], required=False)
    justification = forms.CharField(required=False, max_length=4000, strip=True)
    items = forms.TypedMultipleChoiceField(coerce=int, required=False)
    select_all = forms.BooleanField(required=False)

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        # Any integer; which ids the user may touch is the view's business.
        self.fields["items"].valid_value = lambda value: str(value).isdigit()

    def clean(self):
        data = super().clean()
        if not data.get("select_all") and not data.get("items"):
            raise ValidationError("Select items first (tick them, or select all matching the filter).")
        if data.get("decision") == "downgrade" and not data.get("level"):
            raise ValidationError("Choose the level to downgrade to.")
        return data


class ReassignForm(forms.Form):
    """The security team moves a reviewer's pending items (or the listed ones) to another person."""

    from_reviewer = forms.EmailField(label="From reviewer", required=False)
    items = forms.CharField(required=False, label="Item ids (optional, comma separated)", max_length=20000)
    to = forms.EmailField(label="To (email)")
    reason = forms.CharField(max_length=1000, label="Reason")

    def clean_items(self) -> list[int]:
        raw = self.cleaned_data["items"].replace(",", " ").split()
        if not all(part.isdigit() for part in raw):
            raise ValidationError("Item ids are numbers separated by commas.")
        return [int(part) for part in raw]

    def clean(self):
        data = super().clean()
        if not data.get("from_reviewer") and not data.get("items"):
            raise ValidationError("Name the reviewer whose pending items move, or list item ids.")
        return data


# --- campaign templates ----------------------------------------------------------------------------------

STRATEGY_CHOICES = [
    ("", "—"),
    ("manager", "the holder's manager"),
    ("resource_owner", "the resource owner"),
    ("users", "the named reviewers"),
]


def span_text(value: timedelta | None) -> str:
    """A duration as the template file writes it: whole days as 14d, anything else in hours (12h)."""
    if not value:
        return ""
    if value.seconds == 0 and value.microseconds == 0:
        return f"{value.days}d"
    return f"{int(value.total_seconds() // 3600)}h"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


class TemplateForm(forms.Form):
    """A campaign template, field by field; to_doc() gives the config-as-code document."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    # Scope
    connectors = forms.MultipleChoiceField(
        required=False, label="Systems", help_text="None ticked: every system.", widget=forms.CheckboxSelectMultiple
    )
    resources = forms.CharField(
        required=False,
        label="Resource paths",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Globs, one per line, e.g. acme/* — empty: every resource.",
    )
    min_level = forms.ChoiceField(choices=LEVEL_CHOICES, initial="read", label="Minimum level")
    account_types = forms.MultipleChoiceField(
        choices=AccountType.choices,
        required=False,
        label="Account types",
        help_text="None ticked: every type, people and non-human accounts.",
        widget=forms.CheckboxSelectMultiple,
    )
    risk = forms.MultipleChoiceField(
        required=False,
        label="Only with these risk signals",
        widget=forms.CheckboxSelectMultiple,
    )
    changed_since_last_review = forms.BooleanField(
        required=False, label="Only grants added or changed since the last completed review"
    )
    # Reviewers, in order of preference
    strategy_1 = forms.ChoiceField(choices=STRATEGY_CHOICES, required=False, initial="manager", label="First")
    strategy_2 = forms.ChoiceField(choices=STRATEGY_CHOICES, required=False, label="Then")
    strategy_3 = forms.ChoiceField(choices=STRATEGY_CHOICES, required=False, label="Then")
    users = forms.CharField(
        required=False,
        label="Named reviewers",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Emails, one per line (for the “named reviewers” strategy).",
    )
    fallback = forms.EmailField(required=False, label="Fallback reviewer")
    stage_2 = forms.ChoiceField(
        choices=STRATEGY_CHOICES, required=False, label="Second stage", help_text="Optional: a second review of …"
    )
    stage_2_min_level = forms.ChoiceField(
        choices=LEVEL_CHOICES, required=False, initial="admin", label="… grants at or above"
    )
    # Timing
    schedule = forms.CharField(
        required=False, max_length=100, help_text='Cron ("0 9 1 */3 *") or "every: 90d"; empty: launched by hand.'
    )
    duration = forms.CharField(initial="14d", max_length=20, help_text="e.g. 14d, 2w")
    reminders = forms.CharField(
        required=False, initial="7, 3, 1", label="Reminders", help_text="Days before the deadline, e.g. 7, 3, 1."
    )
    escalate_after = forms.CharField(required=False, max_length=20, help_text="e.g. 10d; empty: never.")
    escalate_reassign = forms.BooleanField(required=False, label="Escalation moves the items to the escalation target")
    on_timeout = forms.ChoiceField(choices=OnTimeout.choices, initial=OnTimeout.KEEP, label="Undecided at deadline")
    carry_forward = forms.BooleanField(required=False, label="Carry forward approvals of unchanged low-risk grants")
    approve_revocations = forms.BooleanField(required=False, label="Revocations wait for security approval")
    max_sync_age = forms.CharField(initial="24h", max_length=20, label="Sync first if older than")
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled (launches on schedule)")

    def __init__(self, data=None, *, connector_names=(), signals=None, editing=False, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["connectors"].choices = [(n, n) for n in connector_names]
        signals = risk_signals() if signals is None else signals
        self.fields["risk"].choices = sorted(signals.items(), key=lambda kv: kv[1])
        if editing:
            # The name is the template's key in config-as-code: renaming would create a second template.
            self.fields["name"].disabled = True

    def clean_reminders(self) -> list[int]:
        parts = self.cleaned_data["reminders"].replace(",", " ").split()
        if not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ValidationError("Whole days before the deadline, separated by commas, e.g. 7, 3, 1.")
        return [int(p) for p in parts]

    def clean_users(self) -> list[str]:
        users = _lines(self.cleaned_data["users"])
        validator = forms.EmailField()
        for email in users:
            validator.clean(email)
        return [u.lower() for u in users]

    def clean(self):
        data = super().clean()
        strategies = [data.get(f"strategy_{i}") for i in (1, 2, 3) if data.get(f"strategy_{i}")]
        if len(set(strategies)) != len(strategies):
            raise ValidationError("Each reviewer strategy once, please.")
        if "users" in (*strategies, data.get("stage_2")) and not data.get("users"):
            self.add_error("users", "List the named reviewers, or drop that strategy.")
        if not strategies and not data.get("fallback"):
            raise ValidationError("Choose at least one reviewer strategy or a fallback reviewer.")
        return data

    def _strategy(self, value: str):
        return {"users": self.cleaned_data["users"]} if value == "users" else value

    def to_doc(self) -> dict:
        """The template document (CONTRACT.md, `campaign template apply`)."""
        d = self.cleaned_data
        strategies = [self._strategy(d[f"strategy_{i}"]) for i in (1, 2, 3) if d.get(f"strategy_{i}")]
        reviewers = {"strategies": strategies}
        if d.get("fallback"):
            reviewers["fallback"] = d["fallback"].lower()
        if d.get("stage_2"):
            reviewers["stages"] = [
                {"strategies": [self._strategy(d["stage_2"])], "when": {"min_level": d["stage_2_min_level"] or "admin"}}
            ]
        doc = {
            "name": d["name"],
            "description": d.get("description", ""),
            "scope": {
                "connectors": d["connectors"],
                "resources": _lines(d["resources"]),
                "min_level": d["min_level"],
                "account_types": d["account_types"],
                "risk": d["risk"],
                "changed_since_last_review": d["changed_since_last_review"],
            },
            "reviewers": reviewers,
            "schedule": d["schedule"].strip(),
            "duration": d["duration"].strip(),
            "reminders": d["reminders"],
            "on_timeout": d["on_timeout"],
            "carry_forward": d["carry_forward"],
            "approve_revocations": d["approve_revocations"],
            "escalate_reassign": d["escalate_reassign"],
            "max_sync_age": d["max_sync_age"].strip(),
            "enabled": d["enabled"],
        }
        if d.get("escalate_after", "").strip():
            doc["escalate_after"] = d["escalate_after"].strip()
        return doc

    @classmethod
    def initial_from(cls, template) -> dict:
        """Field values of a stored template."""
        scope = template.scope or {}
        reviewers = template.reviewers or {}
        strategies = list(reviewers.get("strategies") or [])
        users: list[str] = []
        names = []
        for entry in strategies[:3]:
            if isinstance(entry, dict) and "users" in entry:
                users.extend(entry["users"])
                names.append("users")
            else:
                names.append(entry)
        stage = (reviewers.get("stages") or [{}])[0]
        stage_strategy = ""
        for entry in stage.get("strategies") or []:
            if isinstance(entry, dict) and "users" in entry:
                users.extend(u for u in entry["users"] if u not in users)
                stage_strategy = "users"
            else:
                stage_strategy = entry
            break
        initial = {
            "name": template.name,
            "description": template.description,
            "connectors": scope.get("connectors") or [],
            "resources": "\n".join(scope.get("resources") or []),
            "min_level": scope.get("min_level") or "read",
            "account_types": scope.get("account_types") or [],
            "risk": scope.get("risk") or [],
            "changed_since_last_review": bool(scope.get("changed_since_last_review")),
            "users": "\n".join(users),
            "fallback": reviewers.get("fallback") or "",
            "stage_2": stage_strategy,
            "stage_2_min_level": (stage.get("when") or {}).get("min_level", "admin"),
            "schedule": template.schedule,
            "duration": span_text(template.duration),
            "reminders": ", ".join(str(d) for d in template.reminders or []),
            "escalate_after": span_text(template.escalate_after),
            "escalate_reassign": template.escalate_reassign,
            "on_timeout": template.on_timeout,
            "carry_forward": template.carry_forward,
            "approve_revocations": template.approve_revocations,
            "max_sync_age": span_text(template.max_sync_age),
            "enabled": template.enabled,
        }
        for i, name in enumerate(names, start=1):
            initial[f"strategy_{i}"] = name
        for i in range(len(names) + 1, 4):
            initial[f"strategy_{i}"] = ""
        return initial


class NotificationSettingsForm(forms.ModelForm):
    """The mail schedule the beat tick reads (hours in UTC); security team addresses one per line."""

    security_team = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One address per line; empty: every user with the security role.",
    )

    class Meta:
        model = NotificationSettings
        fields = [
            "digest_enabled",
            "digest_hour",
            "weekly_summary_weekday",
            "weekly_summary_hour",
            "revocation_notices",
        ]
        labels = {
            "digest_enabled": "Daily digest (one mail per person instead of per-campaign reminders)",
            "digest_hour": "Digest hour (UTC)",
            "weekly_summary_weekday": "Weekly summary day (0 = Monday)",
            "weekly_summary_hour": "Weekly summary hour (UTC)",
            "revocation_notices": "Tell people when their access is removed",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["security_team"].initial = "\n".join(self.instance.security_team_emails)

    def clean(self):
        data = super().clean()
        for name, top in (("digest_hour", 23), ("weekly_summary_hour", 23), ("weekly_summary_weekday", 6)):
            value = data.get(name)
            if value is not None and not 0 <= value <= top:
                self.add_error(name, f"from 0 to {top}")
        emails = [line.strip().lower() for line in (data.get("security_team") or "").splitlines() if line.strip()]
        for email in emails:
            try:
                forms.EmailField().clean(email)
            except ValidationError:
                self.add_error("security_team", f"{email!r} is not an email address")
        data["security_team_emails"] = emails
        return data

    def save(self, commit=True):
        self.instance.security_team_emails = self.cleaned_data["security_team_emails"]
        return super().save(commit=commit)
