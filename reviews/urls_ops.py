"""Operations pages (namespace "ops"): the audit log, the revocation queue and the mail outbox."""

from django.urls import path

from .views import ops

app_name = "ops"

urlpatterns = [
    path("audit/", ops.audit_log, name="audit"),
    path("audit/export.<str:fmt>", ops.audit_export, name="audit_export"),
    path("revocations/", ops.revocation_list, name="revocations"),
    path("revocations/<int:pk>/", ops.revocation_detail, name="revocation"),
    path("revocations/<int:pk>/approve/", ops.revocation_approve, name="revocation_approve"),
    path("revocations/<int:pk>/retry/", ops.revocation_retry, name="revocation_retry"),
    path("revocations/<int:pk>/narrow/", ops.revocation_narrow, name="revocation_narrow"),
    path("revocations/<int:pk>/close/", ops.revocation_close, name="revocation_close"),
    path("revocations/<int:pk>/cancel/", ops.revocation_cancel, name="revocation_cancel"),
    path("mails/", ops.mail_outbox, name="mails"),
    path("mails/<int:pk>/resend/", ops.mail_resend, name="mail_resend"),
    path("mails/settings/", ops.mail_settings, name="mail_settings"),
    path("mails/settings/save/", ops.mail_settings_save, name="mail_settings_save"),
]
