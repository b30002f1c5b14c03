from django.apps import AppConfig


class PipeAccessConfig(AppConfig):
    name = "pipeaccess"
    verbose_name = "PipeAccess"

    def ready(self) -> None:
        # Audit events for logins, failed logins, logouts, MFA and password changes (signal receivers).
        from . import auth_audit  # noqa: F401
