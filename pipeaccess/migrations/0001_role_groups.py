"""Create the three role groups (see pipeaccess/roles.py).

Names are spelled out rather than imported: a migration records history and
must not change when application code does.
"""

from django.db import migrations

ROLE_GROUPS = ("security", "reviewer", "auditor")


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    # Reversing leaves the groups in place: deleting them would silently drop every role assignment.
    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
