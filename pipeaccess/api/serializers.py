"""What the API says about each object: never a secret, synced names as plain JSON strings."""

from rest_framework import serializers

from connectors.choices import Level
from connectors.models import Account, Connector, Grant, Identity, Resource, SyncRun
from reviews.models import AuditEvent, Campaign, Decision, ReviewItem, Revocation


def level_label(value) -> str | None:
    return Level(value).label if value else None


class ConnectorSerializer(serializers.ModelSerializer):
    secrets = serializers.SerializerMethodField(help_text="Names of the configured secrets; never their values.")

    class Meta:
        model = Connector
        fields = ["id", "name", "kind", "base_url", "options", "secrets", "enabled", "dry_run", "sync_interval"]
        fields += ["next_sync_at", "created", "updated"]

    def get_secrets(self, obj) -> list[str]:
        return sorted(obj.secrets)


class SyncRunSerializer(serializers.ModelSerializer):
    connector = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = SyncRun
        fields = ["id", "connector", "status", "trigger", "started_at", "finished_at", "applied_at", "counts"]
        fields += ["requests_made", "requests_not_modified", "error"]


class IdentitySerializer(serializers.ModelSerializer):
    manager = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = Identity
        fields = ["id", "email", "other_emails", "name", "manager", "department", "status", "end_date", "source"]


class AccountSerializer(serializers.ModelSerializer):
    connector = serializers.SlugRelatedField(slug_field="name", read_only=True)
    identity = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    owner = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = Account
        fields = ["id", "connector", "external_id", "login", "type", "name", "email", "state", "two_factor"]
        fields += ["is_admin", "is_outside", "last_active_at", "present", "identity", "identity_rule"]
        fields += ["identity_confidence", "owner", "owner_rule"]


class ResourceSerializer(serializers.ModelSerializer):
    connector = serializers.SlugRelatedField(slug_field="name", read_only=True)
    owner = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = Resource
        fields = ["id", "connector", "external_id", "type", "path", "name", "parent", "present", "owner", "owner_rule"]


class GrantSerializer(serializers.ModelSerializer):
    connector = serializers.SlugRelatedField(slug_field="name", read_only=True)
    holder = serializers.SerializerMethodField()
    resource = serializers.SlugRelatedField(slug_field="path", read_only=True)
    permission = serializers.CharField(source="entitlement.name", read_only=True)
    level = serializers.SerializerMethodField()
    kind = serializers.CharField(source="entitlement.kind", read_only=True)
    risk = serializers.SerializerMethodField()

    class Meta:
        model = Grant
        fields = ["id", "connector", "key", "holder", "resource", "kind", "permission", "level", "via"]
        fields += ["valid_from", "valid_to", "risk"]

    def get_holder(self, obj) -> dict:
        if obj.account_id:
            a = obj.account
            return {"type": a.type, "login": a.login, "external_id": a.external_id}
        return {"type": "group", "login": obj.group.path, "external_id": obj.group.external_id}

    def get_level(self, obj) -> str:
        return Level(obj.entitlement.level).label

    def get_risk(self, obj) -> dict:
        risk = getattr(obj, "risk", None)
        return {"score": risk.score, "codes": risk.code_list} if risk else {"score": 0, "codes": []}


class CampaignSerializer(serializers.ModelSerializer):
    template = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = ["id", "name", "template", "state", "launched_at", "due_at", "closed_at", "extended"]

    def get_template(self, obj) -> str | None:
        return obj.config.get("template")


class ReviewItemSerializer(serializers.ModelSerializer):
    reviewer = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    subject = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    level = serializers.SerializerMethodField()
    downgrade_to = serializers.SerializerMethodField()
    risk_codes = serializers.SerializerMethodField()

    class Meta:
        model = ReviewItem
        fields = ["id", "campaign", "holder_label", "holder_type", "resource_path", "resource_type", "kind"]
        fields += ["permission", "level", "via", "effect", "last_active_at", "subject", "risk_score", "risk_codes"]
        fields += ["change", "previous_verdict", "previous_reviewer", "reviewer", "stage", "state", "verdict"]
        fields += ["downgrade_to", "justification", "decided_at", "carried_forward", "timed_out", "version"]

    def get_level(self, obj) -> str:
        return Level(obj.level).label

    def get_downgrade_to(self, obj) -> str | None:
        return level_label(obj.downgrade_to)

    def get_risk_codes(self, obj) -> list[str]:
        return [c for c in obj.risk_codes.split(",") if c]


class DecisionRequestSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "revoke", "downgrade", "delegate"])
    level = serializers.ChoiceField(choices=["read", "write", "admin"], required=False)
    to = serializers.EmailField(required=False)
    justification = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")
    version = serializers.IntegerField(required=False, min_value=0)


class DecisionSerializer(serializers.ModelSerializer):
    to = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = Decision
        fields = ["id", "kind", "level", "to", "justification", "actor_label", "created"]


class RevocationSerializer(serializers.ModelSerializer):
    connector = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    campaign = serializers.SerializerMethodField()
    downgrade_to = serializers.SerializerMethodField()

    class Meta:
        model = Revocation
        fields = ["id", "campaign", "item", "connector", "action", "downgrade_to", "blast_radius", "state"]
        fields += ["instructions", "attempts", "last_error", "outcome", "created", "executed_at", "verified_at"]

    def get_campaign(self, obj) -> int | None:
        return obj.item.campaign_id if obj.item_id else None

    def get_downgrade_to(self, obj) -> str | None:
        return level_label(obj.downgrade_to)


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["seq", "created", "actor_label", "action", "object_type", "object_id", "campaign", "data"]
        fields += ["prev_hash", "hash"]
