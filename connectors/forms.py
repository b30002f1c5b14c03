"""Connector forms. Secrets are references (env:NAME or file:PATH) or a token pasted into the write-only
token field, stored encrypted (connectors.secrets); a value is never shown, not even after an invalid submission."""

from datetime import timedelta

from django import forms

from .actions import normalize_options
from .base import ConfigurationError
from .registry import KINDS, connector_class
from .secrets import check_token, kind, validate_reference

MIN_INTERVAL_MINUTES = 5
# The option that lets a connector reach private addresses (connectors.netguard): a destination change.
PRIVATE_NETWORK_OPTION = "allow_private_network"


def parse_lines(text: str, *, what: str) -> list[tuple[str, str]]:
    """'KEY=VALUE' per line -> pairs; blank lines and lines starting with # are skipped."""
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            # The line itself is not repeated: it may be a pasted secret.
            raise forms.ValidationError(f"line {number}: write {what} as KEY=VALUE")
        pairs.append((key.strip(), value.strip()))
    return pairs


def options_text(options: dict) -> str:
    return "\n".join(
        f"{key}={item}" for key, value in options.items() for item in (value if isinstance(value, list) else [value])
    )


def secrets_text(secrets: dict) -> str:
    # Stored tokens are shown by the token field's state, not as a reference to edit.
    return "\n".join(f"{key}={ref}" for key, ref in secrets.items() if kind(ref) != "stored")


class ConnectorSettingsForm(forms.Form):
    """What the security team may change on an existing connector (name and kind are fixed)."""

    base_url = forms.CharField(
        label="Base URL",
        max_length=500,
        required=False,
        help_text="The address people use, e.g. https://github.example.com; empty: the kind's default.",
        widget=forms.TextInput(attrs={"inputmode": "url", "autocomplete": "off", "spellcheck": "false"}),
    )
    options = forms.CharField(
        label="Options",
        required=False,
        help_text="One KEY=VALUE per line, e.g. org=acme; allow_private_network=true for self-hosted systems.",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"}),
    )
    secrets = forms.CharField(
        label="Secret references",
        required=False,
        help_text="One KEY=REFERENCE per line: token=env:GITHUB_TOKEN or token=file:/run/secrets/github. "
        "References only: PipeAccess never stores or shows a secret value.",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "autocomplete": "off"}),
    )
    token = forms.CharField(
        label="Token",
        required=False,
        strip=False,
        max_length=8192,
        help_text="Or paste the token to have PipeAccess store it, encrypted. It is never shown again.",
        # Write-only: never rendered back, not even after an invalid submission.
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "spellcheck": "false"}, render_value=False),
    )
    sync_interval_minutes = forms.IntegerField(
        label="Sync every (minutes)",
        required=False,
        min_value=MIN_INTERVAL_MINUTES,
        max_value=60 * 24 * 31,
        help_text="Empty: manual syncs only.",
    )
    dry_run = forms.BooleanField(
        label="Dry run: list revocations, do not send them",
        required=False,
        initial=True,
    )

    kind_for_validation: str | None = None
    # Secret keys of the edited connector that hold a stored token: kept unless replaced.
    stored_keys: frozenset = frozenset()

    def __init__(self, *args, stored_keys=frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        self.stored_keys = frozenset(stored_keys)
        if self.stored_keys:
            self.fields["token"].help_text = (
                "Stored, encrypted. Paste a new token to replace it, or give a reference above instead; "
                "it is never shown."
            )

    def clean_options(self) -> list[tuple[str, str]]:
        return parse_lines(self.cleaned_data["options"], what="options")

    def clean_secrets(self) -> dict:
        try:
            pairs = parse_lines(self.cleaned_data["secrets"], what="secret references")
        except forms.ValidationError:
            raise forms.ValidationError("write secret references as KEY=env:NAME or KEY=file:PATH") from None
        secrets = {}
        for key, ref in pairs:
            try:
                validate_reference(ref)
            except ConfigurationError as exc:
                # Name the key, never the value: it may be a pasted token.
                raise forms.ValidationError(f"{key}: {exc}") from None
            secrets[key] = ref
        return secrets

    def clean_token(self) -> str:
        value = self.cleaned_data["token"]
        if not value.strip():
            return ""
        try:
            return check_token(value)
        except ConfigurationError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_sync_interval_minutes(self) -> timedelta | None:
        minutes = self.cleaned_data["sync_interval_minutes"]
        return timedelta(minutes=minutes) if minutes else None

    def clean(self):
        cleaned = super().clean()
        kind = self.kind_for_validation or cleaned.get("kind")
        if kind in KINDS and isinstance(cleaned.get("options"), list):
            cls = connector_class(kind)
            try:
                options = normalize_options(cleaned["options"], cls)
                cls.validate_options(options)
            except ConfigurationError as exc:
                self.add_error("options", str(exc))
            else:
                cleaned["options"] = options
            secrets = cleaned.get("secrets")
            given = set(secrets) | self.stored_keys if isinstance(secrets, dict) else None
            if cleaned.get("token") and isinstance(secrets, dict) and "token" in secrets:
                self.add_error("token", "give either a reference for token or a token to store, not both")
            elif cleaned.get("token"):
                given = None if given is None else given | {"token"}
            missing = [name for name in cls.secret_names if given is not None and name not in given]
            if missing:
                self.add_error(
                    "secrets", f"{cls.kind} needs {', '.join(f'{m}=env:NAME' for m in missing)} or a token to store"
                )
        return cleaned

    def secrets_to_save(self, connector=None) -> dict:
        """The references to save: those typed, plus the stored tokens kept (keys not given a reference)."""
        refs = dict(self.cleaned_data["secrets"])
        for key, ref in (connector.secrets if connector is not None else {}).items():
            if kind(ref) == "stored" and key not in refs:
                refs[key] = ref
        return refs

    def pasted(self) -> dict:
        """KEY -> the token pasted into the write-only field (empty when none was)."""
        token = self.cleaned_data.get("token")
        return {"token": token} if token else {}

    def redirects_secrets(self, connector) -> bool:
        """Whether saving this (valid) form would send the connector's secrets somewhere new or change them:
        another base URL, other secret references, a pasted token, or private-network addresses allowed. Such
        changes need a recent sign-in (connectors.views); a new connector (`connector` None) always does. Other
        options, the schedule and dry run do not: they cannot make a token leave for another host."""
        if connector is None:
            return True
        data = self.cleaned_data
        base_url = (data["base_url"] or connector_class(connector.kind).default_base_url or "").strip()
        private = PRIVATE_NETWORK_OPTION
        return (
            base_url != connector.base_url
            or bool(self.pasted())
            or self.secrets_to_save(connector) != connector.secrets
            or data["options"].get(private) != connector.options.get(private)
        )

    def scrub_secrets(self) -> None:
        """After an invalid submission, never send the secrets field back unless it held only references."""
        if self.is_bound and "secrets" in self.errors:
            self.data = self.data.copy()
            self.data["secrets"] = ""


class ConnectorAddForm(ConnectorSettingsForm):
    name = forms.SlugField(
        label="Name", max_length=100, help_text="Letters, digits, - and _; fixed once added (used by the CLI)."
    )
    kind = forms.ChoiceField(label="Kind", choices=[("", "Choose a system")] + [(k, v[0]) for k, v in KINDS.items()])

    field_order = ["name", "kind", "base_url", "options", "secrets", "sync_interval_minutes", "dry_run"]


def edit_initial(connector) -> dict:
    interval = connector.sync_interval
    return {
        "base_url": connector.base_url,
        "options": options_text(connector.options),
        "secrets": secrets_text(connector.secrets),
        "sync_interval_minutes": int(interval.total_seconds() // 60) if interval else None,
        "dry_run": connector.dry_run,
    }
