"""Statuses and vocabularies of the inventory, with badge colours for the UI."""

from django.db import models


class SyncStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    HELD = "held", "Held for confirmation"
    DISCARDED = "discarded", "Discarded"

    @classmethod
    def colour(cls, value: str) -> str:
        return {"running": "blue", "succeeded": "green", "failed": "red", "held": "orange", "discarded": "grey"}[value]


class Level(models.IntegerChoices):
    """Normalized level of an entitlement: read < write < admin < owner."""

    READ = 10, "read"
    WRITE = 20, "write"
    ADMIN = 30, "admin"
    OWNER = 40, "owner"

    @classmethod
    def from_name(cls, name: str) -> "Level":
        try:
            return {lvl.label: lvl for lvl in cls}[name]
        except KeyError:
            raise ValueError(f"unknown level {name!r}; use read, write, admin or owner") from None


class AccountType(models.TextChoices):
    HUMAN = "human"
    BOT = "bot"
    SERVICE_ACCOUNT = "service_account"
    ROBOT = "robot"
    DEPLOY_KEY = "deploy_key"
    ACCESS_TOKEN = "access_token"  # noqa: S105 - an account type, not a secret
    APP_INSTALLATION = "app_installation"
    GROUP = "group"
    USER_OR_GROUP = "user_or_group"
    PSEUDO = "pseudo"


class AccountState(models.TextChoices):
    ACTIVE = "active"
    PENDING = "pending"
    BLOCKED = "blocked"
    DISABLED = "disabled"
    SUSPENDED = "suspended"
    EXPIRED = "expired"


class IdentityStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    LEAVER = "leaver", "Leaver"


class LinkRule(models.TextChoices):
    """How an account was linked to a person; the confidence goes with it (connectors.correlation)."""

    EMAIL = "email", "Verified email"
    SSO = "sso", "SSO identity"
    LOGIN_RULE = "login_rule", "Login rule"
    MANUAL = "manual", "Linked by hand"
    UNLINKED = "unlinked", "Unlinked by hand"


class OwnerRule(models.TextChoices):
    """How a resource or non-human account got its owner (connectors.owners)."""

    ADMIN_TEAM = "admin_team", "Repository admin team"
    GROUP_OWNER = "group_owner", "Group owner"
    PROJECT_ADMIN = "project_admin", "Project admin"
    MAPPING = "mapping", "Ownership file"
    CREATOR = "creator", "Creator"
    MANUAL = "manual", "Set by hand"
    FALLBACK = "fallback", "Connector fallback"


class ResourceType(models.TextChoices):
    INSTANCE = "instance"
    ORGANIZATION = "organization"
    REPOSITORY = "repository"
    TEAM = "team"
    GROUP = "group"
    PROJECT = "project"
    FOLDER = "folder"
    JOB = "job"
    AGENT = "agent"
    REGISTRY_REPOSITORY = "registry_repository"
    PERMISSION_TARGET = "permission_target"


class GrantKind(models.TextChoices):
    """How a grant confers access; drives the effective-access expansion.

    membership: the holder is a member of the resource (a team, group or
        organization) and so receives what is granted to that resource as a
        group principal.
    permission: access on the resource itself (and on the resource types
        listed in the entitlement's cascade, e.g. repositories of an org).
    invitation: a pending invitation; shown to reviewers, not in effect.
    """

    MEMBERSHIP = "membership"
    PERMISSION = "permission"
    INVITATION = "invitation"
