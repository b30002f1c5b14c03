"""`manage.py user create|list|set-role`: exit codes, passwords never on the command line, roles."""

import io
import json
import re
import sys

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Group
from django.core.management import load_command_class
from django.db import connections
from django.urls import reverse

from pipeaccess.roles import roles_of

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def manage_user(capsys, monkeypatch):
    """manage_user(*args) -> (exit code, stdout, stderr), run the way manage.py runs it from a shell.

    run_from_argv closes every database connection when it ends, which would take the
    test's transaction with it; that one call is disabled.
    """
    monkeypatch.setattr(connections, "close_all", lambda: None)

    def run(*args):
        command = load_command_class("pipeaccess", "user")
        try:
            command.run_from_argv(["manage.py", "user", *args])
        except SystemExit as exit:
            code = exit.code
        else:
            code = 0
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text("a-long-and-uncommon-passphrase\n")
    return path


def test_create_with_a_generated_password_prints_it_once(manage_user):
    code, out, err = manage_user("create", "alice@example.com", "--role", "security", "--generate-password")
    assert (code, err) == (0, "")
    password = re.search(r"^password \(shown once\): (\S+)$", out, re.M).group(1)
    assert out.count(password) == 1
    assert authenticate(username="alice@example.com", password=password) == User.objects.get()


def test_create_reads_the_password_from_a_file(manage_user, password_file):
    code, out, _ = manage_user("create", "bob@example.com", "--role", "reviewer", "--password-file", str(password_file))
    assert code == 0
    assert out == "created bob@example.com with role reviewer\n"
    assert authenticate(username="bob@example.com", password="a-long-and-uncommon-passphrase") is not None


def test_create_reads_the_password_from_stdin_when_the_file_is_a_dash(manage_user, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("piped-in-passphrase-42\n"))
    code, _, _ = manage_user("create", "bob@example.com", "--role", "reviewer", "--password-file", "-")
    assert code == 0
    assert authenticate(username="bob@example.com", password="piped-in-passphrase-42") is not None


def test_create_records_a_verified_primary_email_and_the_role(manage_user):
    manage_user("create", "  Carol@Example.COM ", "--role", "auditor", "--name", "Carol Auditor", "--generate-password")
    user = User.objects.get()
    assert (user.username, user.email, user.get_full_name()) == (
        "carol@example.com",
        "carol@example.com",
        "Carol Auditor",
    )
    assert EmailAddress.objects.filter(user=user, email="carol@example.com", verified=True, primary=True).exists()
    assert roles_of(user) == {"auditor"}


def test_create_accepts_several_roles(manage_user):
    manage_user("create", "erin@example.com", "--role", "reviewer", "--role", "auditor", "--generate-password")
    assert roles_of(User.objects.get()) == {"reviewer", "auditor"}


def test_a_created_user_can_log_in_with_their_email(manage_user, client, password_file):
    manage_user("create", "bob@example.com", "--role", "reviewer", "--password-file", str(password_file))
    response = client.post(
        reverse("account_login"), {"login": "bob@example.com", "password": "a-long-and-uncommon-passphrase"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_an_unknown_role_is_bad_usage_and_lists_the_roles(manage_user):
    code, _, err = manage_user("create", "alice@example.com", "--role", "admin", "--generate-password")
    assert code == 2
    # Python 3.12.8 dropped the quotes around the choices.
    assert re.search(r"invalid choice: 'admin' \(choose from '?security'?, '?reviewer'?, '?auditor'?\)", err)
    assert not User.objects.exists()


def test_a_password_on_the_command_line_is_refused(manage_user):
    code, _, _ = manage_user("create", "alice@example.com", "--role", "security", "--password", "hunter2hunter2")
    assert code == 2
    assert not User.objects.exists()


def test_password_is_not_taken_as_an_abbreviation_of_password_file(manage_user):
    code, _, err = manage_user(
        "create", "alice@example.com", "--role", "security", "--generate-password", "--password", "hunter2hunter2"
    )
    assert code == 2
    assert "unrecognized arguments: --password hunter2hunter2" in err
    assert not User.objects.exists()


def test_create_needs_a_password_source(manage_user):
    code, _, err = manage_user("create", "alice@example.com", "--role", "security")
    assert code == 2
    assert "one of the arguments --password-file --generate-password is required" in err


def test_create_takes_only_one_password_source(manage_user, password_file):
    code, _, err = manage_user(
        "create",
        "alice@example.com",
        "--role",
        "security",
        "--generate-password",
        "--password-file",
        str(password_file),
    )
    assert code == 2
    assert "not allowed with argument" in err


def test_an_invalid_email_is_bad_usage(manage_user):
    code, _, err = manage_user("create", "not-an-email", "--role", "security", "--generate-password")
    assert code == 2
    assert "'not-an-email' is not an email address" in err


def test_a_name_too_long_to_store_is_bad_usage(manage_user):
    code, _, err = manage_user(
        "create", "alice@example.com", "--role", "security", "--name", "A" * 151, "--generate-password"
    )
    assert code == 2
    assert "--name is longer than 150 characters" in err
    assert not User.objects.exists()


def test_creating_an_existing_user_fails(manage_user, security_user):
    code, out, err = manage_user("create", "ALICE@example.com", "--role", "auditor", "--generate-password")
    assert (code, out) == (1, "")
    assert "user alice@example.com already exists" in err
    assert roles_of(security_user) == {"security"}


def test_creating_a_user_whose_email_another_account_has_fails(manage_user):
    User.objects.create_user(username="admin", email="Alice@example.com")
    code, _, err = manage_user("create", "alice@example.com", "--role", "security", "--generate-password")
    assert code == 1
    assert "user alice@example.com already exists" in err
    assert User.objects.count() == 1


def test_a_weak_password_is_rejected_and_nothing_is_created(manage_user, tmp_path):
    weak = tmp_path / "weak"
    weak.write_text("password\n")
    code, _, err = manage_user("create", "alice@example.com", "--role", "security", "--password-file", str(weak))
    assert code == 1
    assert "password rejected: This password is too short." in err
    assert not User.objects.exists()


def test_a_password_similar_to_the_email_is_rejected(manage_user, tmp_path):
    similar = tmp_path / "similar"
    similar.write_text("alice.example.com\n")
    code, _, err = manage_user("create", "alice@example.com", "--role", "security", "--password-file", str(similar))
    assert code == 1
    assert "too similar" in err


def test_a_missing_password_file_fails(manage_user, tmp_path):
    code, _, err = manage_user(
        "create", "alice@example.com", "--role", "security", "--password-file", str(tmp_path / "nope")
    )
    assert code == 1
    assert "cannot read password file" in err


def test_a_password_file_with_several_lines_fails(manage_user, tmp_path):
    key = tmp_path / "key"
    key.write_text("-----BEGIN KEY-----\nabcdefabcdefabcdef\n-----END KEY-----\n")
    code, _, err = manage_user("create", "alice@example.com", "--role", "security", "--password-file", str(key))
    assert code == 1
    assert "has more than one line" in err
    assert not User.objects.exists()


def test_an_empty_password_file_fails(manage_user, tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("")
    code, _, err = manage_user("create", "alice@example.com", "--role", "security", "--password-file", str(empty))
    assert code == 1
    assert "is empty" in err


# --- list ---------------------------------------------------------------------------------------------


def test_list_shows_each_user_with_roles_and_mfa(manage_user, security_user, reviewer_user, user_without_role):
    # security_user has TOTP (tests/conftest.py: the role requires it)
    code, out, _ = manage_user("list")
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["EMAIL", "ROLES", "NAME", "ACTIVE", "MFA", "LAST", "LOGIN"]
    assert lines[1] == ["alice@example.com", "security", "Alice", "Security", "yes", "totp", "never"]
    assert lines[2] == ["bob@example.com", "reviewer", "Bob", "Reviewer", "yes", "-", "never"]
    assert lines[3] == ["dave@example.com", "-", "Dave", "Outsider", "yes", "-", "never"]


def test_list_as_json(manage_user, make_user):
    make_user("erin@example.com", "reviewer", "auditor", name="Erin")
    code, out, _ = manage_user("list", "--format", "json")
    assert code == 0
    assert json.loads(out) == [
        {
            "email": "erin@example.com",
            "name": "Erin",
            "roles": ["auditor", "reviewer"],
            "active": True,
            "mfa": False,
            "last_login": None,
        }
    ]


# --- set-role -------------------------------------------------------------------------------------------


def test_set_role_replaces_the_roles(manage_user, reviewer_user):
    code, out, _ = manage_user("set-role", "bob@example.com", "--role", "security")
    assert code == 0
    assert out == "bob@example.com now has role security\n"
    assert roles_of(reviewer_user) == {"security"}


def test_set_role_leaves_groups_that_are_not_roles_alone(manage_user, reviewer_user):
    oncall = Group.objects.create(name="on-call")
    reviewer_user.groups.add(oncall)
    manage_user("set-role", "BOB@example.com", "--role", "auditor")
    assert set(reviewer_user.groups.values_list("name", flat=True)) == {"on-call", "auditor"}


def test_set_role_for_an_unknown_user_fails(manage_user):
    code, _, err = manage_user("set-role", "nobody@example.com", "--role", "auditor")
    assert code == 1
    assert "no user nobody@example.com" in err


def test_set_role_with_an_unknown_role_is_bad_usage(manage_user, reviewer_user):
    code, _, _ = manage_user("set-role", "bob@example.com", "--role", "owner")
    assert code == 2
    assert roles_of(reviewer_user) == {"reviewer"}


def test_a_missing_action_is_bad_usage(manage_user):
    code, _, err = manage_user()
    assert code == 2
    assert "the following arguments are required: {create,list,set-role}" in err
